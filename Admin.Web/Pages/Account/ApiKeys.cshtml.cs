using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Account;

public sealed class ApiKeysModel(ApiKeyService apiKeys) : PageModel
{
    [BindProperty, Required, StringLength(200)]
    public string Name { get; set; } = "";

    public List<ApiKey> Keys { get; private set; } = [];

    /// <summary>Set only in the answer to the POST that created it.</summary>
    public string? CreatedKey { get; private set; }

    private string UserId => User.FindFirstValue(ClaimTypes.NameIdentifier)!;

    public async Task OnGetAsync() => Keys = await apiKeys.ListAsync(UserId, HttpContext.RequestAborted);

    public async Task<IActionResult> OnPostCreateAsync()
    {
        if (ModelState.IsValid)
        {
            var (_, plain) = await apiKeys.CreateAsync(UserId, Name, HttpContext.RequestAborted);
            CreatedKey = plain;
            Name = "";
            ModelState.Clear();
            Response.Headers.CacheControl = "no-store";
        }
        Keys = await apiKeys.ListAsync(UserId, HttpContext.RequestAborted);
        return Page();
    }

    public async Task<IActionResult> OnPostRevokeAsync(Guid keyId)
    {
        return await apiKeys.RevokeAsync(UserId, keyId, HttpContext.RequestAborted) ? RedirectToPage() : NotFound();
    }
}
