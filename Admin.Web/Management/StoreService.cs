using System.Security.Claims;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Beacon.Core.Webhooks;
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
