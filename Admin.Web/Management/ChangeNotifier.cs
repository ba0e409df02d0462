using Beacon.Admin.Caching;
using Beacon.Core.Messaging;
using Microsoft.AspNetCore.OutputCaching;
using StackExchange.Redis;

namespace Beacon.Admin.Management;

/// <summary>
/// Tells the rest of Beacon that configuration changed: ingestion and the worker evict their caches on the
/// <see cref="ConfigChanges"/> channel, and this site evicts its own cached pages of the store.
/// </summary>
public sealed class ChangeNotifier(IConnectionMultiplexer redis, IOutputCacheStore cache, ILogger<ChangeNotifier> logger)
{
    public async Task TokenChangedAsync(Guid storeId, string tokenHash, CancellationToken cancellationToken)
    {
        await PublishAsync(new ConfigChange.Token(tokenHash));
        await cache.EvictStoreAsync(storeId, cancellationToken);
    }

    public async Task StoreChangedAsync(Guid storeId, CancellationToken cancellationToken)
    {
        await PublishAsync(new ConfigChange.Store(storeId));
        await cache.EvictStoreAsync(storeId, cancellationToken);
    }

    /// <summary>Changes only this site shows (members, dead letters): nothing for the other services to drop.</summary>
    public Task PagesChangedAsync(Guid storeId, CancellationToken cancellationToken) =>
        cache.EvictStoreAsync(storeId, cancellationToken);

    public Task StoresChangedAsync(CancellationToken cancellationToken) =>
        cache.EvictByTagAsync(AdminCache.StoresTag, cancellationToken).AsTask();

    private async Task PublishAsync(ConfigChange change)
    {
        await ConfigChanges.PublishAsync(redis, change);
        logger.LogInformation("Announced {Change}", change.ToString());
    }
}
