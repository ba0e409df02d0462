using System.Security.Claims;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Security;

/// <summary>
/// Adds the operator claim to the sign-in cookie. <see cref="BeaconSecurityStampValidator"/> rebuilds the principal
/// from the user row every <see cref="Management.AdminOptions.PrincipalRevalidationInterval"/>, so the claim follows a demotion.
/// </summary>
public sealed class BeaconClaimsPrincipalFactory(
    UserManager<BeaconUser> userManager,
    RoleManager<IdentityRole> roleManager,
    IOptions<IdentityOptions> options)
    : UserClaimsPrincipalFactory<BeaconUser, IdentityRole>(userManager, roleManager, options)
{
    protected override async Task<ClaimsIdentity> GenerateClaimsAsync(BeaconUser user)
    {
        var identity = await base.GenerateClaimsAsync(user);
        if (user.IsOperator)
        {
            identity.AddClaim(new Claim(AdminPolicies.OperatorClaim, "true"));
        }
        return identity;
    }
}
