using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Tokens;

public sealed class IndexModel(TokenService tokens) : StorePageModel
{
    protected override string Section => "tokens";

    public List<AccessToken> Tokens { get; private set; } = [];

    public async Task OnGetAsync() => Tokens = await tokens.ListAsync(StoreId, HttpContext.RequestAborted);

    /// <summary>Revokes and announces it, so ingestion refuses the token within a second.</summary>
    public async Task<IActionResult> OnPostRevokeAsync(Guid tokenId) =>
        await tokens.RevokeAsync(StoreId, tokenId, HttpContext.RequestAborted) ? RedirectToPage() : NotFound();

    public async Task<IActionResult> OnPostDeleteAsync(Guid tokenId) =>
        await tokens.DeleteAsync(StoreId, tokenId, HttpContext.RequestAborted) ? RedirectToPage() : NotFound();
}
