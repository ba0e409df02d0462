using Beacon.Core.Hosting;
using Beacon.Core.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Takes over entries that another consumer read but did not ack for <see cref="WorkerOptions.ClaimMinIdle"/>
/// (a crashed or killed worker) with XAUTOCLAIM, and delivers them like new ones.
/// </summary>
public sealed class StreamReclaimer(
    IConnectionMultiplexer redis,
    EntryRouter router,
    ConsumerIdentity identity,
    IOptions<QueueOptions> queueOptions,
    IOptions<WorkerOptions> options,
    ILogger<StreamReclaimer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var streams = QueueKeys.AllStreams(queueOptions.Value.Partitions).ToArray();
        var settings = options.Value;
        var db = redis.GetDatabase();
        try
        {
            using var timer = new PeriodicTimer(settings.ClaimInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await TouchHeldEntriesAsync(db, settings, stoppingToken);
                foreach (var stream in streams)
                {
                    try
                    {
                        await ReclaimAsync(db, stream, settings, stoppingToken);
                    }
                    catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
                    {
                        logger.LogWarning(ex, "Could not reclaim entries of {Stream}", stream);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    // XCLAIM to ourselves resets an entry's idle time, so entries still queued in a slow lane are not taken over.
    private async Task TouchHeldEntriesAsync(IDatabase db, WorkerOptions settings, CancellationToken stoppingToken)
    {
        foreach (var group in router.TakeHeldLongerThan(settings.ClaimMinIdle / 2).GroupBy(e => e.Stream))
        {
            try
            {
                await db.StreamClaimIdsOnlyAsync(group.Key, QueueKeys.ConsumerGroup, identity.Name, 0, group.Select(e => e.Id).ToArray());
            }
            catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
            {
                logger.LogWarning(ex, "Could not refresh {Count} held entries of {Stream}", group.Count(), group.Key);
            }
        }
    }

    private async Task ReclaimAsync(IDatabase db, string stream, WorkerOptions settings, CancellationToken stoppingToken)
    {
        RedisValue start = "0-0";
        do
        {
            var result = await db.StreamAutoClaimAsync(stream, QueueKeys.ConsumerGroup, identity.Name,
                (long)settings.ClaimMinIdle.TotalMilliseconds, start, settings.ReadCount);
            if (result.IsNull)
            {
                return;
            }
            if (result.ClaimedEntries.Length > 0)
            {
                logger.LogInformation("Reclaimed {Count} entries of {Stream} from stalled consumers", result.ClaimedEntries.Length, stream);
            }
            await router.DispatchAsync(stream, result.ClaimedEntries, stoppingToken);
            start = result.NextStartId;
        }
        while (start != "0-0" && !stoppingToken.IsCancellationRequested);
    }
}
