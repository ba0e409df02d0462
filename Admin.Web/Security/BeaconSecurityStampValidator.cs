using System.Security.Claims;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Security;

/// <summary>
/// Re-reads the signed-in user every <see cref="Management.AdminOptions.PrincipalRevalidationInterval"/>: a user
/// deleted, locked out or whose security stamp changed is signed out; anyone else gets a principal rebuilt from
/// the database (<see cref="BeaconClaimsPrincipalFactory"/>), so a demoted operator loses the operator claim.
/// Store membership is read from the database on every request (<see cref="StoreAccessHandler"/>).
/// </summary>
public sealed class BeaconSecurityStampValidator(
    IOptions<SecurityStampValidatorOptions> options,
    SignInManager<BeaconUser> signInManager,
    ILoggerFactory logger)
    : SecurityStampValidator<BeaconUser>(options, signInManager, logger)
{
    protected override async Task<BeaconUser?> VerifySecurityStamp(ClaimsPrincipal? principal)
    {
        var user = await base.VerifySecurityStamp(principal);
        return user is not null && await SignInManager.UserManager.IsLockedOutAsync(user) ? null : user;
    }
}
