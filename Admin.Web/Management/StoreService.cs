using System.Security.Claims;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>Stores as a user sees them: operators every store, merchants the ones they belong to.</summary>
public sealed class StoreService(BeaconDbContext db, ChangeNotifier notifier, ILogger<StoreService> logger)
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
}
