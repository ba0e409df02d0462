namespace Beacon.Core.Catalog;

/// <summary>The JSON shape a field must have on the wire.</summary>
public enum FieldType
{
    /// <summary>A JSON string.</summary>
    String,
    /// <summary>A string or an integer number; integers are carried as their decimal digits (Layers product ids).</summary>
    Identifier,
    /// <summary>An ISO 8601 date-time string.</summary>
    Timestamp,
    /// <summary>A positive whole number (1-based).</summary>
    PositiveInteger,
    /// <summary>A decimal number (JSON number or numeric string).</summary>
    Decimal,
    /// <summary>A three-letter ISO 4217 currency code.</summary>
    Currency,
    /// <summary>A JSON object of free content.</summary>
    Object,
    /// <summary>A non-empty array of identifiers.</summary>
    IdentifierList,
    /// <summary>An array of consent category names (strings of 1 to <see cref="EventField.MaxLength"/> characters).</summary>
    ConsentList,
}

/// <summary>
/// A field of the canonical event. <see cref="Name"/> is the canonical snake_case name (also the Layers
/// JSON name and the protobuf name); <see cref="AlanaName"/> is the camelCase name Alana bodies use.
/// </summary>
public sealed record EventField(string Name, string AlanaName, FieldType Type, string Description, int MaxLength = 0);
