using System.ComponentModel.DataAnnotations;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Members;

/// <summary>Operators invite merchants to a store and remove them (operators only, by page convention).</summary>
public sealed class IndexModel(MembershipService memberships) : StorePageModel
{
    protected override string Section => "members";

    [BindProperty, Required, EmailAddress]
    public string Email { get; set; } = "";

    public List<StoreMember> Members { get; private set; } = [];

    public Invitation? Invitation { get; private set; }

    public string? InvitationLink => Invitation?.SetPasswordPath is { } path ? $"{Request.Scheme}://{Request.Host}{path}" : null;

    public async Task OnGetAsync() => Members = await memberships.ListAsync(StoreId, HttpContext.RequestAborted);

    public async Task<IActionResult> OnPostInviteAsync()
    {
        if (ModelState.IsValid)
        {
            Invitation = await memberships.InviteAsync(StoreId, Email, HttpContext.RequestAborted);
            Response.Headers.CacheControl = "no-store";
            ModelState.Clear();
            Email = "";
        }
        Members = await memberships.ListAsync(StoreId, HttpContext.RequestAborted);
        return Page();
    }

    public async Task<IActionResult> OnPostRemoveAsync(string userId) =>
        await memberships.RemoveAsync(StoreId, userId, HttpContext.RequestAborted) ? RedirectToPage() : NotFound();
}
