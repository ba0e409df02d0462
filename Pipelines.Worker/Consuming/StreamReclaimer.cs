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
                foreach (var stream in streams)
                {
                    try
                    {
                        await ReclaimAsync(db, stream, settings, stoppingToken);
                    }
                    catch (Exception ex) when (ex is RedisException or TimeoutException)
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
            foreach (var entry in result.ClaimedEntries)
            {
                await router.DispatchAsync(stream, entry, stoppingToken);
            }
            start = result.NextStartId;
        }
        while (start != "0-0" && !stoppingToken.IsCancellationRequested);
    }
}
