using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Tokens;

public sealed class CreateModel(TokenService tokens) : StorePageModel
{
    protected override string Section => "tokens";

    [BindProperty]
    public TokenForm Input { get; set; } = new();

    /// <summary>Only in the answer to the creating POST: the plain token is rendered this once and never stored.</summary>
    public CreatedToken? Created { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var input = new TokenInput(Input.Name ?? "", TokenService.ParseOrigins(Input.AllowedOrigins), Input.RateLimitPerMinute, Input.RateLimitPerIpPerMinute);
        if (!ModelState.AddErrors("Input", TokenService.Validate(input)))
        {
            return Page();
        }
        try
        {
            Created = await tokens.CreateAsync(StoreId, input, HttpContext.RequestAborted);
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

    public sealed class TokenForm
    {
        public string? Name { get; set; }
        public string? AllowedOrigins { get; set; }
        public int? RateLimitPerMinute { get; set; }
        public int? RateLimitPerIpPerMinute { get; set; }
    }
}
