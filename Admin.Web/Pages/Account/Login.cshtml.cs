using System.ComponentModel.DataAnnotations;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Account;

/// <summary>
/// Sign-in. Every failure (unknown email, wrong password, locked account) gets the same message and costs the same
/// password hash, so the page does not tell which emails have accounts; <see cref="SignInThrottle"/> limits
/// failures per client network and Identity's lockout failures per account.
/// </summary>
public sealed class LoginModel(
    SignInManager<BeaconUser> signIn, IPasswordHasher<BeaconUser> hasher, SignInThrottle throttle, ILogger<LoginModel> logger) : PageModel
{
    public const string FailureMessage =
        "Sign-in failed. Check the email and the password; after repeated failures an account is locked for a while.";

    // A real hash of a password nobody knows: unknown emails are verified against it to take as long as known ones.
    private static readonly Lazy<string> UnknownUserHash =
        new(() => new PasswordHasher<BeaconUser>().HashPassword(new BeaconUser(), Guid.NewGuid().ToString()));

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
        var client = HttpContext.Connection.RemoteIpAddress;
        if (await throttle.BeginAttemptAsync(client) is { } wait)
        {
            logger.LogWarning("Sign-in refused for {Client}: too many failed attempts", client);
            var minutes = Math.Max(1, (int)Math.Ceiling(wait.TotalMinutes));
            ModelState.AddModelError("", $"Too many failed sign-ins from your network. Try again in {minutes} minute{(minutes == 1 ? "" : "s")}.");
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Page();
        }

        var user = await signIn.UserManager.FindByNameAsync(Email);
        if (user is null)
        {
            hasher.VerifyHashedPassword(new BeaconUser(), UnknownUserHash.Value, Password);
            logger.LogInformation("Failed sign-in for an unknown account from {Client}", client);
            ModelState.AddModelError("", FailureMessage);
            return Page();
        }
        var result = await signIn.PasswordSignInAsync(user, Password, isPersistent: false, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            await throttle.RefundAsync(client);
            logger.LogInformation("{UserId} signed in", user.Id);
            // Only local return URLs: a crafted link must not bounce a fresh session to another site.
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/stores");
        }
        if (result.IsLockedOut)
        {
            // Identity answers a locked account before hashing: hash anyway, or the delay would tell.
            hasher.VerifyHashedPassword(user, UnknownUserHash.Value, Password);
            logger.LogWarning("{UserId} is locked out after repeated failed sign-ins", user.Id);
        }
        else
        {
            logger.LogInformation("Failed sign-in for {UserId} from {Client}", user.Id, client);
        }
        ModelState.AddModelError("", FailureMessage);
        return Page();
    }
}
