using System.Collections.Concurrent;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// The enabled pipelines of each store, loaded on first use and dropped when Admin.Web announces a change
/// (<see cref="ConfigChanges"/>), plus a periodic reload in case a message was missed.
/// </summary>
public sealed class PipelineCache(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    IOptions<WorkerOptions> options,
    ILogger<PipelineCache> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, Lazy<Task<IReadOnlyList<Pipeline>>>> _byStore = new();

    public async ValueTask<IReadOnlyList<Pipeline>> ForStoreAsync(Guid storeId, CancellationToken cancellationToken)
    {
        var entry = _byStore.GetOrAdd(storeId, id => new Lazy<Task<IReadOnlyList<Pipeline>>>(() => LoadAsync(id, cancellationToken)));
        try
        {
            return await entry.Value;
        }
        catch
        {
            // A failed load (Postgres down) must not be cached; the next entry tries again.
            _byStore.TryRemove(new KeyValuePair<Guid, Lazy<Task<IReadOnlyList<Pipeline>>>>(storeId, entry));
            throw;
        }
    }

    /// <summary>The current configuration of one pipeline (for retries), or null when it no longer exists.</summary>
    public async Task<Pipeline?> FindAsync(Guid pipelineId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        return await db.Pipelines.AsNoTracking().FirstOrDefaultAsync(p => p.Id == pipelineId, cancellationToken);
    }

    public void Evict(Guid storeId) => _byStore.TryRemove(storeId, out _);

    public void EvictAll() => _byStore.Clear();

    private async Task<IReadOnlyList<Pipeline>> LoadAsync(Guid storeId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        return await db.Pipelines.AsNoTracking()
            .Where(p => p.StoreId == storeId && p.Enabled)
            .ToListAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subscriber = redis.GetSubscriber();
        try
        {
            await subscriber.SubscribeAsync(ConfigChanges.Channel, (_, message) => OnConfigChanged(message));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The multiplexer resubscribes once Redis is back; until then the periodic reload keeps the cache fresh.
            logger.LogWarning(ex, "Could not subscribe to configuration changes");
        }
        try
        {
            using var timer = new PeriodicTimer(options.Value.PipelineRefreshInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                EvictAll();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            try
            {
                await subscriber.UnsubscribeAsync(ConfigChanges.Channel);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                logger.LogDebug(ex, "Could not unsubscribe from configuration changes");
            }
        }
    }

    private void OnConfigChanged(RedisValue message)
    {
        var text = message.ToString();
        if (text == ConfigChanges.All)
        {
            EvictAll();
        }
        else if (text.StartsWith("store:", StringComparison.Ordinal) && Guid.TryParse(text.AsSpan(6), out var storeId))
        {
            logger.LogDebug("Pipelines of store {StoreId} changed", storeId);
            Evict(storeId);
        }
    }
}
