using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Microsoft.AspNetCore.OutputCaching;

namespace Beacon.Admin.Pages.Events;

/// <summary>Ingestion's drop log of the store. Written by ingestion without telling this site, so cached briefly only.</summary>
[OutputCache(PolicyName = AdminCache.Charts)]
public sealed class DroppedModel(DroppedEvents dropped) : StorePageModel
{
    protected override string Section => "dropped";

    public DroppedEventsReport Report { get; private set; } = new([], []);

    public async Task OnGetAsync() => Report = await dropped.ReadAsync(StoreId, 100);
}
