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
        if (!ModelState.AddErrors("Input", PipelineService.Validate(input)))
        {
            return Page();
        }
        Created = await pipelines.CreateAsync(StoreId, input, HttpContext.RequestAborted);
        Response.Headers.CacheControl = "no-store";
        return Page();
    }
}
