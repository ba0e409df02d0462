using Beacon.Core.Data;

namespace Beacon.Admin.Pages.Quarantine;

/// <summary>What <c>_Entries.cshtml</c> shows: quarantined entries, and the store names when entries of any store are listed.</summary>
public sealed record QuarantineList(List<QuarantinedEntry> Entries, int Total, IReadOnlyDictionary<Guid, string>? StoreNames)
{
    /// <summary>The first bytes of a field as hex, enough to recognise what was written.</summary>
    public static string Preview(byte[] value, int bytes = 48) =>
        Convert.ToHexString(value.AsSpan(0, Math.Min(bytes, value.Length))).ToLowerInvariant() + (value.Length > bytes ? "…" : "");

    /// <summary>The notice after a replay or discard.</summary>
    public static string Done(string verb, int count) => $"{verb} {count} entr{(count == 1 ? "y" : "ies")}.";
}
