using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Events;

/// <summary>"What happened to event X?": a search box over the per-event trace. Never cached: attempts keep coming.</summary>
public sealed class TraceModel(EventTraces traces) : StorePageModel
{
    protected override string Section => "trace";

    [BindProperty(SupportsGet = true, Name = "id")]
    public string? EventId { get; set; }

    public EventTrace? Trace { get; private set; }

    public bool Searched { get; private set; }

    public async Task OnGetAsync()
    {
        Response.Headers.CacheControl = "no-store";
        if (string.IsNullOrWhiteSpace(EventId))
        {
            return;
        }
        Searched = true;
        Trace = await traces.FindAsync(StoreId, EventId.Trim(), HttpContext.RequestAborted);
    }
}
