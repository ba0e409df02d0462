using System.Security.Claims;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Security;

/// <summary>Routes with a <c>storeId</c> value are open to operators and to members of that store only.</summary>
public sealed class StoreAccessRequirement : IAuthorizationRequirement;

/// <summary>
/// THE store-membership check: every page, page handler and management API route that names a store goes
/// through this handler (via <see cref="AdminPolicies.StoreAccess"/> or <see cref="AdminPolicies.ManagementApi"/>),
/// so no page has to remember to check. Entities below the store (a pipeline, a token) are then looked up
/// with the store id in the query, so an id of another store is simply not found.
/// </summary>
public sealed class StoreAccessHandler(IHttpContextAccessor httpContextAccessor, BeaconDbContext db, ILogger<StoreAccessHandler> logger)
    : AuthorizationHandler<StoreAccessRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, StoreAccessRequirement requirement)
    {
        var httpContext = context.Resource as HttpContext ?? httpContextAccessor.HttpContext;
        var routeValue = httpContext?.GetRouteValue(AdminPolicies.StoreIdRouteValue);
        if (routeValue is null)
        {
            // Not a store-scoped route (the store list, the account pages): signing in is enough.
            context.Succeed(requirement);
            return;
        }
        if (!Guid.TryParse(routeValue.ToString(), out var storeId))
        {
            context.Fail();
            return;
        }
        if (context.User.IsOperator())
        {
            context.Succeed(requirement);
            return;
        }

        var userId = context.User.FindFirstValue(ClaimTypes.NameIdentifier);
        if (userId is not null
            && await db.StoreMembers.AnyAsync(m => m.StoreId == storeId && m.UserId == userId, httpContext!.RequestAborted))
        {
            context.Succeed(requirement);
            return;
        }

        logger.LogWarning("User {UserId} was refused store {StoreId} at {Path}", userId, storeId, httpContext?.Request.Path.Value);
        context.Fail();
    }
}
