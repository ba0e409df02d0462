namespace Beacon.Core.Drops;

/// <summary>
/// Where the services record the events they dropped, for Admin.Web to show: <c>beacon:drops:&lt;storeId&gt;</c> is a
/// list of <see cref="DroppedEvent"/> records, newest first and capped; <c>beacon:drops:&lt;storeId&gt;:counts</c> is a
/// hash of totals keyed <c>&lt;event_type&gt;|&lt;code&gt;</c> (<c>unknown</c> or <c>none</c> for types outside the
/// catalog); <c>beacon:drops:&lt;storeId&gt;:ids:&lt;yyyyMMdd&gt;</c> holds the day's records of events dropped with a
/// client <c>event_id</c>, by that id.
/// </summary>
public static class DropLogKeys
{
    public static string Recent(Guid storeId) => $"beacon:drops:{storeId:D}";

    public static string Counts(Guid storeId) => $"beacon:drops:{storeId:D}:counts";

    public static string ByEventId(Guid storeId, DateOnly day) => $"beacon:drops:{storeId:D}:ids:{day:yyyyMMdd}";
}
