using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Pipelines;

public sealed class CreateModel(PipelineService pipelines) : StorePageModel
{
    protected override string Section => "pipelines";

    [BindProperty]
    public PipelineForm Input { get; set; } = new();

    /// <summary>Only in the answer to the creating POST: the signing secret is shown this once.</summary>
    public PipelineWithSecret? Created { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var input = Input.ToInput();
        if (!ModelState.AddErrors("Input", pipelines.Validate(input, Store)))
        {
            return Page();
        }
        try
        {
            Created = await pipelines.CreateAsync(StoreId, input, HttpContext.RequestAborted);
        }
        catch (StoreQuotaExceededException ex)
        {
            ModelState.AddModelError("", ex.Message);
            Response.StatusCode = StatusCodes.Status409Conflict;
            return Page();
        }
        Response.Headers.CacheControl = "no-store";
        return Page();
    }
}
