namespace Beacon.Core.Data;

/// <summary>
/// Postgres <c>text</c> cannot hold U+0000 (22021) while ingestion accepts any string: the character is dropped
/// wherever the worker or Admin.Web writes text, and event ids are stored (and their Bloom filters computed) without it.
/// </summary>
public static class PostgresText
{
    public static string WithoutNul(string value) => value.Contains('\0') ? value.Replace("\0", "") : value;
}
