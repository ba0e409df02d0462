using System.ComponentModel.DataAnnotations;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Account;

public sealed class LoginModel(SignInManager<BeaconUser> signIn, ILogger<LoginModel> logger) : PageModel
{
    [BindProperty, Required, EmailAddress]
    public string Email { get; set; } = "";

    [BindProperty, Required]
    public string Password { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }
        var result = await signIn.PasswordSignInAsync(Email, Password, isPersistent: false, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            logger.LogInformation("{Email} signed in", Email);
            // Only local return URLs: a crafted link must not bounce a fresh session to another site.
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/stores");
        }
        if (result.IsLockedOut)
        {
            logger.LogWarning("{Email} is locked out after repeated failed sign-ins", Email);
            ModelState.AddModelError("", "Too many failed attempts: this account is locked for a while. Try again later.");
        }
        else
        {
            ModelState.AddModelError("", "Email or password is wrong.");
        }
        return Page();
    }
}
