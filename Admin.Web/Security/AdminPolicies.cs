using Microsoft.AspNetCore.Authorization;

namespace Beacon.Admin.Security;

/// <summary>The authorization policies of the site and the management API, and the claim they read.</summary>
public static class AdminPolicies
{
    /// <summary>Signed in (cookie) and, on routes with a <c>storeId</c>, a member of that store or an operator.</summary>
    public const string StoreAccess = "StoreAccess";

    /// <summary>Operators only (creating stores, inviting merchants).</summary>
    public const string Operator = "Operator";

    /// <summary>The management API: an API key and the same store rule as the pages.</summary>
    public const string ManagementApi = "ManagementApi";

    /// <summary>Present (value <c>true</c>) on operators' principals.</summary>
    public const string OperatorClaim = "beacon:operator";

    /// <summary>The route value every store-scoped page, handler and API route carries.</summary>
    public const string StoreIdRouteValue = "storeId";

    public static bool IsOperator(this System.Security.Claims.ClaimsPrincipal user) =>
        user.HasClaim(OperatorClaim, "true");

    public static void AddAdminPolicies(this AuthorizationOptions options, string cookieScheme, string apiKeyScheme)
    {
        options.AddPolicy(StoreAccess, policy => policy
            .AddAuthenticationSchemes(cookieScheme)
            .RequireAuthenticatedUser()
            .AddRequirements(new StoreAccessRequirement()));
        options.AddPolicy(Operator, policy => policy
            .AddAuthenticationSchemes(cookieScheme)
            .RequireAuthenticatedUser()
            .RequireClaim(OperatorClaim, "true"));
        options.AddPolicy(ManagementApi, policy => policy
            .AddAuthenticationSchemes(apiKeyScheme)
            .RequireAuthenticatedUser()
            .AddRequirements(new StoreAccessRequirement()));
    }
}
