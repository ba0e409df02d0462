using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Pipelines;

/// <summary>The pipeline's latest delivery attempts (request, status, latency), refreshed every 3 s. Never cached: it is live.</summary>
public sealed class DeliveriesModel(PipelineService pipelines, RecentDeliveries deliveries) : StorePageModel
{
    public const int Limit = 50;

    protected override string Section => "pipelines";

    [FromRoute]
    public Guid PipelineId { get; set; }

    public Pipeline Pipeline { get; private set; } = null!;

    public List<RecentDelivery> Rows { get; private set; } = [];

    protected override async Task<IActionResult?> LoadAsync(CancellationToken cancellationToken)
    {
        if (await pipelines.FindAsync(StoreId, PipelineId, cancellationToken) is not { } pipeline)
        {
            return NotFound();
        }
        Pipeline = pipeline;
        Response.Headers.CacheControl = "no-store";
        return null;
    }

    public async Task OnGetAsync() => Rows = await deliveries.ListAsync(PipelineId, Limit, HttpContext.RequestAborted);
}
