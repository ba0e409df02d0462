using System.Security.Claims;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>Stores as a user sees them: operators every store, merchants the ones they belong to.</summary>
public sealed class StoreService(BeaconDbContext db, ChangeNotifier notifier, DestinationGuard guard, ILogger<StoreService> logger)
{
    public Task<List<Store>> ListVisibleAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var stores = db.Stores.AsNoTracking();
        if (!user.IsOperator())
        {
            var userId = user.FindFirstValue(ClaimTypes.NameIdentifier);
            stores = stores.Where(s => s.Members.Any(m => m.UserId == userId));
        }
        return stores.OrderBy(s => s.Name).ToListAsync(cancellationToken);
    }

    /// <summary>The store of a store-scoped route; membership was already checked by the authorization handler.</summary>
    public Task<Store?> FindAsync(Guid storeId, CancellationToken cancellationToken) =>
        db.Stores.AsNoTracking().FirstOrDefaultAsync(s => s.Id == storeId, cancellationToken);

    public async Task<Store> CreateAsync(string name, CancellationToken cancellationToken)
    {
        var store = new Store { Name = name.Trim() };
        db.Stores.Add(store);
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoresChangedAsync(cancellationToken);
        logger.LogInformation("Created store {StoreId} {StoreName}", store.Id, store.Name);
        return store;
    }

    public const int MaxRetentionDays = 3650;

    /// <summary>The errors of a retention setting (days, null for the worker's default).</summary>
    public static Dictionary<string, string[]> ValidateRetention(int? eventDays, int? deadLetterDays)
    {
        var errors = new Dictionary<string, string[]>();
        if (eventDays is < 1 or > MaxRetentionDays)
        {
            errors["eventDays"] = [$"Keep events 1 to {MaxRetentionDays} days (leave empty for the default, 90)."];
        }
        if (deadLetterDays is < 1 or > MaxRetentionDays)
        {
            errors["deadLetterDays"] = [$"Keep dead letters and quarantined entries 1 to {MaxRetentionDays} days (leave empty for the default, 30)."];
        }
        return errors;
    }

    /// <summary>Sets how long the store's data is kept (null: the worker's default); null when there is no such store.</summary>
    public async Task<Store?> SetRetentionAsync(Guid storeId, int? eventDays, int? deadLetterDays, CancellationToken cancellationToken)
    {
        var store = await db.Stores.FirstOrDefaultAsync(s => s.Id == storeId, cancellationToken);
        if (store is null)
        {
            return null;
        }
        store.EventRetentionDays = eventDays;
        store.DeadLetterRetentionDays = deadLetterDays;
        await db.SaveChangesAsync(cancellationToken);
        await notifier.PagesChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Store {StoreId} keeps events {EventDays} days and dead letters {DeadLetterDays} days", storeId,
            eventDays?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default", deadLetterDays?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default");
        return store;
    }

    /// <summary>
    /// Sets the private networks the store's webhooks may reach (null: the operator's default). Entries outside the
    /// operator's upper bound are errors, and nothing is changed then. The worker reloads the store's pipelines
    /// within a second; open connections of the old scope are not reused (pools are per scope).
    /// </summary>
    public async Task<(Store? Store, List<string> Errors)> SetAllowedPrivateNetworksAsync(
        Guid storeId, IReadOnlyList<string>? networks, CancellationToken cancellationToken)
    {
        List<string>? normalized = null;
        if (networks is not null)
        {
            var (valid, errors) = guard.NormalizeStoreNetworks(networks);
            if (errors.Count > 0)
            {
                return (null, errors);
            }
            normalized = valid;
        }
        var store = await db.Stores.FirstOrDefaultAsync(s => s.Id == storeId, cancellationToken);
        if (store is null)
        {
            return (null, []);
        }
        store.AllowedPrivateNetworks = normalized;
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Store {StoreId} may now reach private networks {Networks}", storeId,
            normalized is null ? "(operator default)" : string.Join(", ", normalized));
        return (store, []);
    }
}
