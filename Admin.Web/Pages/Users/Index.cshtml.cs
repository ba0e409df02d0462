using System.Security.Claims;
using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Users;

/// <summary>Operators only (page convention): every account, lock/unlock, password reset with a one-time link.</summary>
public sealed class IndexModel(UserAdministration administration) : PageModel
{
    public List<UserSummary> Users { get; private set; } = [];

    public string? Message { get; private set; }

    /// <summary>Only in the answer to the resetting POST.</summary>
    public string? ResetLink { get; private set; }

    public string? ResetFor { get; private set; }

    private string? Me => User.FindFirstValue(ClaimTypes.NameIdentifier);

    public async Task OnGetAsync()
    {
        Message = TempData["Message"] as string;
        Users = await administration.ListAsync(HttpContext.RequestAborted);
    }

    public async Task<IActionResult> OnPostLockAsync(string userId)
    {
        TempData["Message"] = await administration.LockAsync(userId, Me) ? "Locked: the user is signed out within a minute." : "You cannot lock yourself.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostUnlockAsync(string userId) =>
        await administration.UnlockAsync(userId, Me) ? RedirectToPage() : NotFound();

    public async Task<IActionResult> OnPostResetAsync(string userId)
    {
        if (await administration.ResetPasswordAsync(userId, Me) is not { } path)
        {
            return NotFound();
        }
        Users = await administration.ListAsync(HttpContext.RequestAborted);
        ResetFor = Users.FirstOrDefault(u => u.Id == userId)?.Email;
        ResetLink = $"{Request.Scheme}://{Request.Host}{path}";
        Response.Headers.CacheControl = "no-store";
        return Page();
    }
}
