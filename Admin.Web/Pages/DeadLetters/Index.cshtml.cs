using Beacon.Admin.Management;
using Beacon.Core.Data;
using Beacon.Core.DeadLetters;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.DeadLetters;

/// <summary>A pipeline's dead letters: filter, replay one/selected/a range, discard. Replay and discard are Beacon.Core's <see cref="DeadLetterService"/>.</summary>
public sealed class IndexModel(PipelineService pipelines, DeadLetterQueries queries, DeadLetterService deadLetters, ChangeNotifier notifier) : StorePageModel
{
    protected override string Section => "deliveries";

    [FromRoute]
    public Guid PipelineId { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? EventType { get; set; }

    [BindProperty(SupportsGet = true)]
    public int? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public DateTimeOffset? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public DateTimeOffset? To { get; set; }

    public Pipeline Pipeline { get; private set; } = null!;

    public List<DeadLetter> DeadLetters { get; private set; } = [];

    public int Total { get; private set; }

    public string? Message { get; private set; }

    protected override async Task<IActionResult?> LoadAsync(CancellationToken cancellationToken)
    {
        if (await pipelines.FindAsync(StoreId, PipelineId, cancellationToken) is not { } pipeline)
        {
            return NotFound();
        }
        Pipeline = pipeline;
        return null;
    }

    public async Task OnGetAsync()
    {
        Message = TempData["Message"] as string;
        var ct = HttpContext.RequestAborted;
        // datetime-local carries no zone: the page labels it UTC, so read it as UTC.
        DeadLetters = await queries.ListAsync(PipelineId, new DeadLetterFilter(EventType, Status, AsUtc(From), AsUtc(To), 200), ct);
        Total = await queries.CountAsync(PipelineId, ct);
    }

    /// <summary>The row's own button: only that one, whatever boxes are ticked.</summary>
    public async Task<IActionResult> OnPostReplayOneAsync(long id) =>
        await DoneAsync("Replayed", await deadLetters.ReplayAsync(PipelineId, [id], HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostReplaySelectedAsync(long[] ids) =>
        await DoneAsync("Replayed", ids.Length == 0 ? 0 : await deadLetters.ReplayAsync(PipelineId, ids, HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostDiscardSelectedAsync(long[] ids) =>
        await DoneAsync("Discarded", ids.Length == 0 ? 0 : await deadLetters.DiscardAsync(PipelineId, ids, HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostReplayRangeAsync(DateTime rangeFrom, DateTime rangeTo) =>
        await DoneAsync("Replayed", await deadLetters.ReplayRangeAsync(PipelineId, Utc(rangeFrom), Utc(rangeTo), HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostDiscardRangeAsync(DateTime rangeFrom, DateTime rangeTo) =>
        await DoneAsync("Discarded", await deadLetters.DiscardRangeAsync(PipelineId, Utc(rangeFrom), Utc(rangeTo), HttpContext.RequestAborted));

    private async Task<IActionResult> DoneAsync(string verb, int count)
    {
        await notifier.PagesChangedAsync(StoreId, HttpContext.RequestAborted);
        TempData["Message"] = $"{verb} {count} dead letter{(count == 1 ? "" : "s")}.";
        return RedirectToPage(new { storeId = StoreId, pipelineId = PipelineId });
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? AsUtc(DateTimeOffset? value) =>
        value is { } v ? new DateTimeOffset(v.DateTime, TimeSpan.Zero) : null;
}
