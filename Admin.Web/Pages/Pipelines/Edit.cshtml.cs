using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Pipelines;

public sealed class EditModel(PipelineService pipelines, PipelineTester tester) : StorePageModel
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

    public void OnGet()
    {
        Input = PipelineForm.Of(Pipeline);
        Message = TempData["Message"] as string;
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
        return Page();
    }
}
