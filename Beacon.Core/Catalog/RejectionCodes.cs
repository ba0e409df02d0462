namespace Beacon.Core.Catalog;

/// <summary>Rejection codes (metric tags); the reasons carry the details.</summary>
public static class RejectionCodes
{
    public const string NotAnObject = "not_an_object";
    public const string MissingField = "missing_field";
    public const string UnknownType = "unknown_type";
    public const string InvalidField = "invalid_field";
    public const string TooLong = "too_long";
}
