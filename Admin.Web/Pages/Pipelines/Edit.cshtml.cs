using Beacon.Admin.Management;
using Beacon.Core.Data;
using Beacon.Protos.Queue;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Pipelines;

public sealed class EditModel(PipelineService pipelines, PipelineTester tester, ArchivedEvents archive) : StorePageModel
{
    protected override string Section => "pipelines";

    [FromRoute]
    public Guid PipelineId { get; set; }

    [BindProperty]
    public PipelineForm Input { get; set; } = new();

    public Pipeline Pipeline { get; private set; } = null!;

    public string? Message { get; private set; }

    /// <summary>Only in the answer to the rotating POST.</summary>
    public string? RotatedSecret { get; private set; }

    public TestEventResult? TestResult { get; private set; }

    /// <summary>The event JSON last pasted, shown again with its error.</summary>
    public string? PastedEvent { get; private set; }

    /// <summary>Why the pasted event would be dropped by ingestion (then nothing is sent).</summary>
    public string? PasteError { get; private set; }

    /// <summary>The store's newest accepted events, to test the pipeline with real ones.</summary>
    public List<Beacon.Protos.Queue.EnrichedEvent> RecentEvents { get; private set; } = [];

    // The pipeline is looked up with the store of the route: another store's pipeline id is simply not found.
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
        Input = PipelineForm.Of(Pipeline);
        Message = TempData["Message"] as string;
        await LoadRecentEventsAsync();
    }

    /// <summary>Sends the picked archived events, and any pasted ids, to the pipeline now, as one batch.</summary>
    public async Task<IActionResult> OnPostTestRealAsync([FromForm] List<string>? eventIds, [FromForm] string? pastedIds)
    {
        var ids = (eventIds ?? []).Concat((pastedIds ?? "").Split([',', ' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct().Take(20).ToList();
        Input = PipelineForm.Of(Pipeline);
        ModelState.Clear();
        var events = ids.Count > 0 ? await archive.FindAsync(StoreId, ids, HttpContext.RequestAborted) : [];
        if (events.Count == 0)
        {
            ModelState.AddModelError("", "Pick at least one event, or paste the id of an event in the archive.");
        }
        else
        {
            TestResult = await tester.SendEventsAsync(Pipeline, Store, events, HttpContext.RequestAborted);
        }
        await LoadRecentEventsAsync();
        return Page();
    }

    /// <summary>Sends one event pasted as JSON (as <c>POST /beacon</c> takes it), once ingestion's own checks pass.</summary>
    public async Task<IActionResult> OnPostTestPastedAsync([FromForm] string? pastedEvent)
    {
        Input = PipelineForm.Of(Pipeline);
        ModelState.Clear();
        PastedEvent = pastedEvent;
        var (pasted, error) = tester.Pasted(Pipeline, pastedEvent ?? "");
        if (pasted is null)
        {
            // Not in ModelState: every form's error list would show it.
            PasteError = error;
        }
        else
        {
            TestResult = await tester.SendEventsAsync(Pipeline, Store, [pasted], HttpContext.RequestAborted);
        }
        await LoadRecentEventsAsync();
        return Page();
    }

    private async Task LoadRecentEventsAsync()
    {
        if (Pipeline.Kind == PipelineKinds.Webhook)
        {
            RecentEvents = await archive.RecentAsync(StoreId, 10, HttpContext.RequestAborted);
        }
    }

    public async Task<IActionResult> OnPostSaveAsync()
    {
        var input = Input.ToInput();
        if (!ModelState.AddErrors("Input", pipelines.Validate(input, Store)))
        {
            return Page();
        }
        await pipelines.UpdateAsync(StoreId, PipelineId, input, HttpContext.RequestAborted);
        TempData["Message"] = "Saved.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostToggleAsync()
    {
        var updated = await pipelines.SetEnabledAsync(StoreId, PipelineId, !Pipeline.Enabled, HttpContext.RequestAborted);
        TempData["Message"] = updated!.Enabled ? "Enabled." : "Disabled.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostDeleteAsync()
    {
        await pipelines.DeleteAsync(StoreId, PipelineId, HttpContext.RequestAborted);
        return Redirect($"/stores/{StoreId}/pipelines");
    }

    public async Task<IActionResult> OnPostRotateAsync()
    {
        var rotated = await pipelines.RotateSecretAsync(StoreId, PipelineId, HttpContext.RequestAborted);
        Pipeline = rotated!.Entity;
        RotatedSecret = rotated.Secret;
        Input = PipelineForm.Of(Pipeline);
        Response.Headers.CacheControl = "no-store";
        return Page();
    }

    public async Task<IActionResult> OnPostTestAsync()
    {
        TestResult = await tester.SendAsync(Pipeline, Store, HttpContext.RequestAborted);
        Input = PipelineForm.Of(Pipeline);
        ModelState.Clear();
        await LoadRecentEventsAsync();
        return Page();
    }
}
