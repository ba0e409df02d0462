using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.OutputCaching;

namespace Beacon.Admin.Pages.Pipelines;

/// <summary>Read-heavy and only changed through this site: cached per user, evicted by the store's tag on change.</summary>
[OutputCache(PolicyName = AdminCache.Pages)]
public sealed class IndexModel(PipelineService pipelines) : StorePageModel
{
    protected override string Section => "pipelines";

    public List<Pipeline> Pipelines { get; private set; } = [];

    public async Task OnGetAsync() => Pipelines = await pipelines.ListAsync(StoreId, HttpContext.RequestAborted);
}
