using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Pipelines;

/// <summary>Replays a window of archived events into the pipeline and shows every replay's progress. Never cached.</summary>
public sealed class ReplayModel(PipelineService pipelines, ReplayService replays) : StorePageModel
{
    protected override string Section => "pipelines";

    [FromRoute]
    public Guid PipelineId { get; set; }

    /// <summary>UTC, as the browser's datetime-local field sends it.</summary>
    [BindProperty]
    public DateTime? From { get; set; }

    [BindProperty]
    public DateTime? To { get; set; }

    public Pipeline Pipeline { get; private set; } = null!;

    public List<ReplayDto> Replays { get; private set; } = [];

    public bool InProgress => Replays.Any(r => r.Status is ReplayStatuses.Queued or ReplayStatuses.Running);

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

    public async Task OnGetAsync()
    {
        var now = DateTime.UtcNow;
        From ??= new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddHours(-1);
        To ??= From.Value.AddHours(1);
        await LoadReplaysAsync();
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var from = AsUtc(From);
        var to = AsUtc(To);
        if (!ModelState.AddErrors("Replay", ReplayService.Validate(from, to)))
        {
            await LoadReplaysAsync();
            return Page();
        }
        if (!Pipeline.Enabled)
        {
            ModelState.AddModelError("", "The pipeline is disabled: enable it before replaying into it.");
            await LoadReplaysAsync();
            return Page();
        }
        await replays.CreateAsync(Pipeline, from!.Value, to!.Value, HttpContext.RequestAborted);
        return RedirectToPage();
    }

    private async Task LoadReplaysAsync() =>
        Replays = (await replays.ListAsync(StoreId, PipelineId, 20, HttpContext.RequestAborted)).Select(ReplayDto.Of).ToList();

    private static DateTimeOffset? AsUtc(DateTime? value) =>
        value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;
}
