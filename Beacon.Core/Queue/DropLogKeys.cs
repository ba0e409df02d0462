namespace Beacon.Core.Queue;

/// <summary>
/// Where Ingestion.Api records the events it dropped, for Admin.Web to show:
/// <c>beacon:drops:&lt;storeId&gt;</c> is a list of JSON records (<c>at, source, index, event_type, code, reason</c>),
/// newest first and capped; <c>beacon:drops:&lt;storeId&gt;:counts</c> is a hash of totals keyed <c>&lt;event_type&gt;|&lt;code&gt;</c>.
/// </summary>
public static class DropLogKeys
{
    public static string Recent(Guid storeId) => $"beacon:drops:{storeId:D}";

    public static string Counts(Guid storeId) => $"beacon:drops:{storeId:D}:counts";

    public static string ByEventId(Guid storeId, DateOnly day) => $"beacon:drops:{storeId:D}:ids:{day:yyyyMMdd}";
}
