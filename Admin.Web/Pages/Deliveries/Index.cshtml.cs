using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OutputCaching;

namespace Beacon.Admin.Pages.Deliveries;

/// <summary>
/// Charts and recent failures. The worker writes the numbers without telling this site, so the cache entry
/// (page and chart JSON) lives only briefly; replays and pipeline changes evict it at once.
/// </summary>
[OutputCache(PolicyName = AdminCache.Charts)]
public sealed class IndexModel(DeliveryQueries deliveries) : StorePageModel
{
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    protected override string Section => "deliveries";

    public List<DeliverySeries> Series { get; private set; } = [];

    public List<RecentFailure> Failures { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Series = await deliveries.SeriesAsync(StoreId, null, Window, HttpContext.RequestAborted);
        Failures = await deliveries.RecentFailuresAsync(StoreId, 25, HttpContext.RequestAborted);
    }

    /// <summary>The charts' data: per pipeline, one delivered and one failed count per minute.</summary>
    public async Task<IActionResult> OnGetStatsAsync() =>
        new JsonResult(await deliveries.SeriesAsync(StoreId, null, Window, HttpContext.RequestAborted));
}
