using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Pages.Events;

public sealed record LiveEventRow(string EventId, string EventType, string Source, DateTimeOffset ReceivedAt,
    string? SessionId, string? ProductId, string Where, string Device);

/// <summary>The newest stored events of the store; <c>live-events.js</c> polls the Rows handler. Never cached: it is live.</summary>
public sealed class LiveModel(BeaconDbContext db) : StorePageModel
{
    public const int Limit = 50;

    protected override string Section => "events";

    public List<LiveEventRow> Rows { get; private set; } = [];

    public async Task OnGetAsync() => Rows = await NewestAsync(HttpContext.RequestAborted);

    public async Task<IActionResult> OnGetRowsAsync()
    {
        Response.Headers.CacheControl = "no-store";
        return new JsonResult(await NewestAsync(HttpContext.RequestAborted));
    }

    private async Task<List<LiveEventRow>> NewestAsync(CancellationToken cancellationToken)
    {
        // Served by ix_events_store_received (store_id, received_at DESC).
        var rows = await db.Events.AsNoTracking()
            .Where(e => e.StoreId == StoreId)
            .OrderByDescending(e => e.ReceivedAt)
            .Take(Limit)
            .Select(e => new { e.EventId, e.EventType, e.Source, e.ReceivedAt, e.SessionId, e.ProductId, e.GeoCountry, e.GeoCity, e.DeviceType, e.Browser, e.Os })
            .ToListAsync(cancellationToken);
        return rows.Select(e => new LiveEventRow(e.EventId, e.EventType, e.Source, e.ReceivedAt, e.SessionId, e.ProductId,
            string.Join(", ", new[] { e.GeoCity, e.GeoCountry }.Where(s => !string.IsNullOrEmpty(s))),
            string.Join(" · ", new[] { e.DeviceType, e.Browser, e.Os }.Where(s => !string.IsNullOrEmpty(s))))).ToList();
    }
}
