using System.Collections.Concurrent;
using System.Threading.Channels;
using Beacon.Core.Data;
using Beacon.Core.Hosting;
using Beacon.Core.Messaging;
using Beacon.Core.Privacy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Routing;

/// <summary>
/// The enabled pipelines of each store, with the store's active deletions and suppressions (Admin.Web announces
/// those as a store change too), (each with its <see cref="Pipeline.Store"/>, whose private-network grants the
/// webhook guard reads), loaded on first use and reloaded in the background when Admin.Web announces
/// a change (<see cref="ConfigChanges"/>) and periodically in case a message was missed. A reload that fails
/// (Postgres down) keeps the last known pipelines and is tried again: webhooks keep flowing through a Postgres
/// outage. After an announced change the store's entries wait for the reload it asked for (at most
/// <see cref="WorkerOptions.AnnouncedChangeWait"/>, once per change), so a pipeline created before a shopper's event
/// gets that event; the periodic reload is never waited for.
/// </summary>
public sealed class PipelineCache(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    IOptions<WorkerOptions> options,
    ILogger<PipelineCache> logger) : BackgroundService
{
    private static readonly TimeSpan ReloadRetryDelay = TimeSpan.FromSeconds(1);
    private const int ReloadChunkSize = 1000;

    private readonly ConcurrentDictionary<Guid, StoreRouting> _byStore = new();
    // Stores whose pipelines must be read again; a store stays here until a reload succeeds.
    private readonly ConcurrentDictionary<Guid, byte> _stale = new();
    // Loads of stores never seen, in progress or failed within the last ReloadRetryDelay.
    private readonly ConcurrentDictionary<Guid, FirstLoad> _firstLoads = new();
    private readonly Channel<bool> _reloadRequested = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    // Per store: changes announced, and the last change entries no longer wait for (a finished reload read it, or
    // its wait ran out while Postgres was down).
    private readonly ConcurrentDictionary<Guid, long> _announced = new();
    private readonly ConcurrentDictionary<Guid, long> _settled = new();
    // Completed and replaced after every reload, so that waiters look again.
    private volatile TaskCompletionSource _reloaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The store's pipelines, or null when they were never loaded and Postgres cannot give them now: the caller
    /// leaves the entry pending (a reclaim brings it back) instead of waiting, so no store blocks another.
    /// </summary>
    public async ValueTask<StoreRouting?> TryForStoreAsync(Guid storeId, CancellationToken cancellationToken)
    {
        if (_byStore.TryGetValue(storeId, out var known))
        {
            return !_announced.TryGetValue(storeId, out var change) || Applied(storeId, change)
                ? known
                : await AfterAnnouncedChangeAsync(storeId, change, cancellationToken);
        }
        // One load per store at a time, shared by every entry that needs it. A failed load stays in place for
        // ReloadRetryDelay, so the entries of an unknown store cost nothing while Postgres is down.
        var load = _firstLoads.GetOrAdd(storeId, id => new FirstLoad(LoadFirstAsync(id)));
        var waitFor = options.Value.FirstLoadWait - TimeSpan.FromMilliseconds(Environment.TickCount64 - load.StartedAt);
        if (!load.Task.IsCompleted && waitFor <= TimeSpan.Zero)
        {
            return null;
        }
        try
        {
            return await load.Task.WaitAsync(waitFor > TimeSpan.Zero ? waitFor : TimeSpan.Zero, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException)
        {
            return null;
        }
    }

    private bool Applied(Guid storeId, long change) => _settled.GetValueOrDefault(storeId) >= change;

    private void Settle(Guid storeId, long change) => _settled.AddOrUpdate(storeId, change, (_, seen) => Math.Max(seen, change));

    private async ValueTask<StoreRouting> AfterAnnouncedChangeAsync(Guid storeId, long change, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)options.Value.AnnouncedChangeWait.TotalMilliseconds;
        while (true)
        {
            // Taken before the check, so a reload that ends between the two still wakes this wait.
            var reloaded = _reloaded.Task;
            if (Applied(storeId, change))
            {
                break;
            }
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                Settle(storeId, change);
                logger.LogWarning("The pipelines of store {StoreId} changed and could not be read again within {Wait}; its events go on with the last known ones",
                    storeId, options.Value.AnnouncedChangeWait);
                break;
            }
            try
            {
                await reloaded.WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken);
            }
            catch (TimeoutException)
            {
            }
        }
        return _byStore[storeId];
    }

    /// <summary>The store's routing, read from Postgres when never loaded (throws while Postgres is down): for retries.</summary>
    public async ValueTask<StoreRouting> ForStoreAsync(Guid storeId, CancellationToken cancellationToken) =>
        _byStore.TryGetValue(storeId, out var known) ? known : _byStore.GetOrAdd(storeId, await LoadAsync(storeId, cancellationToken));

    private async Task<StoreRouting> LoadFirstAsync(Guid storeId)
    {
        try
        {
            var loaded = await LoadAsync(storeId, CancellationToken.None);
            _firstLoads.TryRemove(storeId, out _);
            return _byStore.GetOrAdd(storeId, loaded);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            logger.LogWarning(ex, "Could not load the pipelines of store {StoreId}; its entries stay pending", storeId);
            _ = Task.Delay(ReloadRetryDelay).ContinueWith(_ => _firstLoads.TryRemove(storeId, out FirstLoad? _), TaskScheduler.Default);
            throw;
        }
    }

    private sealed class FirstLoad(Task<StoreRouting> task)
    {
        public long StartedAt { get; } = Environment.TickCount64;
        public Task<StoreRouting> Task { get; } = task;
    }

    /// <summary>The current configuration of one pipeline (for retries), or null when it no longer exists.</summary>
    public async Task<Pipeline?> FindAsync(Guid pipelineId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        return await db.Pipelines.AsNoTracking().Include(p => p.Store).FirstOrDefaultAsync(p => p.Id == pipelineId, cancellationToken);
    }

    /// <summary>
    /// The store's deletion rules as last loaded, without waiting (none when the store was never loaded): the last check
    /// of events that were routed before a deletion became known, as they are written.
    /// </summary>
    public IReadOnlyList<DeletionRule> KnownDeletions(Guid storeId) =>
        _byStore.TryGetValue(storeId, out var routing) ? routing.Deletions : [];

    /// <summary>Asks for the pipelines of a store to be read again; the current ones serve until that succeeds.</summary>
    public void Refresh(Guid storeId)
    {
        if (_byStore.ContainsKey(storeId))
        {
            _stale[storeId] = 0;
            _reloadRequested.Writer.TryWrite(true);
        }
    }

    public void RefreshAll()
    {
        foreach (var storeId in _byStore.Keys)
        {
            _stale[storeId] = 0;
        }
        _reloadRequested.Writer.TryWrite(true);
    }

    private async Task<StoreRouting> LoadAsync(Guid storeId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var pipelines = await db.Pipelines.AsNoTracking().Include(p => p.Store)
            .Where(p => p.StoreId == storeId && p.Enabled)
            .ToListAsync(cancellationToken);
        var deletions = await DeletionsOf(db, [storeId]).ToListAsync(cancellationToken);
        return new StoreRouting(pipelines, deletions.Select(DeletionRule.Of).ToList());
    }

    /// <summary>
    /// Suppressions until lifted; plain deletions and whole-store deletions for <see cref="WorkerOptions.DeletionMatchWindow"/>,
    /// long enough for anything received before them to have left the stream.
    /// </summary>
    private IQueryable<DataDeletion> DeletionsOf(BeaconDbContext db, Guid[] storeIds)
    {
        var since = DateTimeOffset.UtcNow - options.Value.DeletionMatchWindow;
        return db.DataDeletions.AsNoTracking()
            .Where(d => storeIds.Contains(d.StoreId) && (d.IdentifierField == null || d.IdentifierValue != null)
                && ((d.Suppress && d.LiftedAt == null) || d.RequestedAt > since));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subscriber = redis.GetSubscriber();
        try
        {
            await subscriber.SubscribeAsync(ConfigChanges.Channel, (_, message) => OnConfigChanged(message));
        }
        catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
        {
            // The multiplexer resubscribes once Redis is back; until then the periodic reload keeps the cache fresh.
            logger.LogWarning(ex, "Could not subscribe to configuration changes");
        }
        var periodic = Task.Run(() => RefreshPeriodicallyAsync(stoppingToken), CancellationToken.None);
        try
        {
            while (await _reloadRequested.Reader.WaitToReadAsync(stoppingToken))
            {
                _reloadRequested.Reader.TryRead(out _);
                if (!await ReloadStaleAsync(stoppingToken))
                {
                    await Task.Delay(ReloadRetryDelay, stoppingToken);
                    _reloadRequested.Writer.TryWrite(true);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await periodic;
            try
            {
                await subscriber.UnsubscribeAsync(ConfigChanges.Channel);
            }
            catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
            {
                logger.LogDebug(ex, "Could not unsubscribe from configuration changes");
            }
        }
    }

    private async Task RefreshPeriodicallyAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(options.Value.PipelineRefreshInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                RefreshAll();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Reloads every stale store; false when some could not be read (they stay stale and keep their pipelines).</summary>
    private async Task<bool> ReloadStaleAsync(CancellationToken stoppingToken)
    {
        // Cleared before reading, so a change announced during the read marks its store stale again; the changes
        // this read covers are those announced before it.
        var stale = _stale.Keys.ToList();
        var changes = new Dictionary<Guid, long>();
        foreach (var storeId in stale)
        {
            _stale.TryRemove(storeId, out _);
            if (_announced.TryGetValue(storeId, out var change))
            {
                changes[storeId] = change;
            }
        }
        var loaded = 0;
        try
        {
            // One query per chunk of stores: the periodic refresh covers every store this worker has seen.
            foreach (var chunk in stale.Chunk(ReloadChunkSize))
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
                var pipelines = await db.Pipelines.AsNoTracking().Include(p => p.Store)
                    .Where(p => chunk.Contains(p.StoreId) && p.Enabled)
                    .ToListAsync(stoppingToken);
                var deletions = await DeletionsOf(db, chunk).ToListAsync(stoppingToken);
                var byStore = pipelines.ToLookup(p => p.StoreId);
                var deletionsByStore = deletions.ToLookup(d => d.StoreId);
                foreach (var storeId in chunk)
                {
                    _byStore[storeId] = new StoreRouting(byStore[storeId].ToList(), deletionsByStore[storeId].Select(DeletionRule.Of).ToList());
                    if (changes.TryGetValue(storeId, out var change))
                    {
                        Settle(storeId, change);
                    }
                }
                loaded += chunk.Length;
                Interlocked.Exchange(ref _reloaded, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            return true;
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            foreach (var storeId in stale.Skip(loaded))
            {
                _stale[storeId] = 0;
            }
            logger.LogWarning(ex, "Could not reload the pipelines of {Count} stores; keeping the last known ones", stale.Count - loaded);
            return false;
        }
    }

    private void Announce(Guid storeId) => _announced.AddOrUpdate(storeId, 1, (_, change) => change + 1);

    private void OnConfigChanged(RedisValue message)
    {
        switch (ConfigChanges.Parse(message))
        {
            case ConfigChange.Everything:
                foreach (var storeId in _byStore.Keys)
                {
                    Announce(storeId);
                }
                RefreshAll();
                break;
            case ConfigChange.Store store:
                logger.LogDebug("Pipelines of store {StoreId} changed", store.StoreId);
                if (_byStore.ContainsKey(store.StoreId))
                {
                    Announce(store.StoreId);
                }
                Refresh(store.StoreId);
                break;
        }
    }
}
