using System.ComponentModel.DataAnnotations;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Account;

/// <summary>
/// The one-time invitation link: a password-reset token that becomes void once the password is set. Without a
/// valid code the page shows nothing of the user (not even whether the id exists), only that the link does not work.
/// </summary>
public sealed class AcceptInvitationModel(UserManager<BeaconUser> users, SignInManager<BeaconUser> signIn) : PageModel
{
    public const string InvalidLinkMessage = "This invitation link was already used or has expired, or is not valid. Ask an operator for a new one.";

    [BindProperty(SupportsGet = true, Name = "user")]
    public string UserId { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public string Code { get; set; } = "";

    [BindProperty, Required]
    public string Password { get; set; } = "";

    /// <summary>Set only once the code has been checked.</summary>
    public string? Email { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await InvitedUserAsync() is not { } user)
        {
            return InvalidLink();
        }
        Email = user.Email;
        return Page();
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (await InvitedUserAsync() is not { } user)
        {
            return InvalidLink();
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
                ModelState.AddModelError("", error.Code == "InvalidToken" ? InvalidLinkMessage : error.Description);
            }
            return Page();
        }
        await signIn.SignInAsync(user, isPersistent: false);
        return Redirect("/stores");
    }

    /// <summary>The user of the link when its code is a valid, unused invitation for them; else null.</summary>
    private async Task<BeaconUser?> InvitedUserAsync()
    {
        if (string.IsNullOrEmpty(UserId) || string.IsNullOrEmpty(Code) || await users.FindByIdAsync(UserId) is not { } user)
        {
            return null;
        }
        return await users.VerifyUserTokenAsync(user, users.Options.Tokens.PasswordResetTokenProvider,
            UserManager<BeaconUser>.ResetPasswordTokenPurpose, Code) ? user : null;
    }

    private PageResult InvalidLink()
    {
        Email = null;
        Response.StatusCode = StatusCodes.Status404NotFound;
        ModelState.Clear();
        ModelState.AddModelError("", InvalidLinkMessage);
        return Page();
    }
}
