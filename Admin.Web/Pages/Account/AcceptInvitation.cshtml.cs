using System.ComponentModel.DataAnnotations;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Account;

/// <summary>The one-time invitation link: a password-reset token that becomes void once the password is set.</summary>
public sealed class AcceptInvitationModel(UserManager<BeaconUser> users, SignInManager<BeaconUser> signIn) : PageModel
{
    [BindProperty(SupportsGet = true, Name = "user")]
    public string UserId { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public string Code { get; set; } = "";

    [BindProperty, Required]
    public string Password { get; set; } = "";

    public string? Email { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        var user = await users.FindByIdAsync(UserId);
        if (user is null)
        {
            return NotFound();
        }
        Email = user.Email;
        return Page();
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var user = await users.FindByIdAsync(UserId);
        if (user is null)
        {
            return NotFound();
        }
        Email = user.Email;
        if (!ModelState.IsValid)
        {
            return Page();
        }
        var result = await users.ResetPasswordAsync(user, Code, Password);
        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
            {
                ModelState.AddModelError("", error.Code == "InvalidToken" ? "This invitation link was already used or has expired." : error.Description);
            }
            return Page();
        }
        await signIn.SignInAsync(user, isPersistent: false);
        return Redirect("/stores");
    }
}
