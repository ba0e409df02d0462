using System.Security.Claims;
using Beacon.Admin.Security;
using Microsoft.AspNetCore.OutputCaching;

namespace Beacon.Admin.Caching;

/// <summary>
/// Output-cache policies (kept in Redis, shared by every instance) and the tags that evict them. Pages are
/// cached per user and per URL (the store id is in the path), tagged with their store, and every change made
/// through the site or the API evicts the tag before it answers, so a change is visible at once.
/// </summary>
public static class AdminCache
{
    /// <summary>Pages whose data only changes through Admin.Web (store list, pipelines, event types).</summary>
    public const string Pages = "AdminPages";

    /// <summary>Delivery charts: also fed by the worker, which does not evict, so they live briefly.</summary>
    public const string Charts = "AdminCharts";

    public const string StoresTag = "stores";

    public static string StoreTag(Guid storeId) => $"store:{storeId}";

    public static void AddAdminCachePolicies(this OutputCacheOptions options)
    {
        options.AddPolicy(Pages, new UserScopedCachePolicy(TimeSpan.FromMinutes(10)));
        options.AddPolicy(Charts, new UserScopedCachePolicy(TimeSpan.FromSeconds(15)));
    }

    public static async Task EvictStoreAsync(this IOutputCacheStore store, Guid storeId, CancellationToken cancellationToken)
    {
        await store.EvictByTagAsync(StoreTag(storeId), cancellationToken);
        await store.EvictByTagAsync(StoresTag, cancellationToken);
    }
}

/// <summary>
/// The built-in default policy never caches signed-in requests, rightly: a shared entry would leak one
/// user's page to another. This one caches them, but keyed by the user's id (and the full URL with its
/// query), so an entry is only ever served back to the user it was rendered for; authorization still runs
/// before the cache is consulted.
/// </summary>
internal sealed class UserScopedCachePolicy(TimeSpan expiration) : IOutputCachePolicy
{
    ValueTask IOutputCachePolicy.CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var request = context.HttpContext.Request;
        var userId = context.HttpContext.User.FindFirstValue(ClaimTypes.NameIdentifier);
        var cacheable = (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) && userId is not null;

        context.EnableOutputCaching = true;
        context.AllowCacheLookup = cacheable;
        context.AllowCacheStorage = cacheable;
        context.AllowLocking = true;
        context.ResponseExpirationTimeSpan = expiration;
        context.CacheVaryByRules.QueryKeys = "*";
        context.CacheVaryByRules.VaryByValues["user"] = userId ?? "";
        context.Tags.Add(AdminCache.StoresTag);
        if (context.HttpContext.GetRouteValue(AdminPolicies.StoreIdRouteValue) is { } storeId
            && Guid.TryParse(storeId.ToString(), out var id))
        {
            context.Tags.Add(AdminCache.StoreTag(id));
        }
        return ValueTask.CompletedTask;
    }

    ValueTask IOutputCachePolicy.ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) =>
        ValueTask.CompletedTask;

    ValueTask IOutputCachePolicy.ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var response = context.HttpContext.Response;
        // A response that sets a cookie (a renewed sign-in, an antiforgery token) belongs to this one exchange.
        if (response.StatusCode != StatusCodes.Status200OK || !Microsoft.Extensions.Primitives.StringValues.IsNullOrEmpty(response.Headers.SetCookie))
        {
            context.AllowCacheStorage = false;
        }
        return ValueTask.CompletedTask;
    }
}
