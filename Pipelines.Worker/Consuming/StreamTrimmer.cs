using Beacon.Core.Hosting;
using Beacon.Core.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Measures the group's lag and trims each stream below the oldest entry the group still needs: the oldest
/// pending entry, or, with nothing pending, the last one delivered to the group. Unacked entries are never dropped.
/// </summary>
public sealed class StreamTrimmer(
    IConnectionMultiplexer redis,
    WorkerMetrics metrics,
    IOptions<QueueOptions> queueOptions,
    IOptions<WorkerOptions> options,
    ILogger<StreamTrimmer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var streams = QueueKeys.AllStreams(queueOptions.Value.Partitions).ToArray();
        var db = redis.GetDatabase();
        try
        {
            using var timer = new PeriodicTimer(options.Value.TrimInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                long lag = 0, pending = 0;
                foreach (var stream in streams)
                {
                    try
                    {
                        var (streamLag, streamPending) = await TrimAsync(db, stream);
                        lag += streamLag;
                        pending += streamPending;
                    }
                    catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
                    {
                        logger.LogWarning(ex, "Could not trim {Stream}", stream);
                    }
                }
                metrics.SetLag(lag, pending);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Trims one stream; returns its lag (entries not yet acked) and pending count.</summary>
    public static async Task<(long Lag, long Pending)> TrimAsync(IDatabase db, string stream)
    {
        var group = (await db.StreamGroupInfoAsync(stream)).FirstOrDefault(g => g.Name == QueueKeys.ConsumerGroup);
        if (group.Name is null)
        {
            return (0, 0);
        }
        var summary = await db.StreamPendingAsync(stream, QueueKeys.ConsumerGroup);
        RedisValue keepFrom = summary.PendingMessageCount > 0 ? summary.LowestPendingMessageId : group.LastDeliveredId;
        if (!keepFrom.IsNullOrEmpty && keepFrom != "0-0")
        {
            await db.StreamTrimByMinIdAsync(stream, keepFrom, useApproximateMaxLength: false);
        }
        // Lag is null when Redis cannot tell (after deletions); the length beyond the pending ones is then an upper bound.
        var neverRead = group.Lag ?? Math.Max(0, await db.StreamLengthAsync(stream) - summary.PendingMessageCount);
        return (neverRead + summary.PendingMessageCount, summary.PendingMessageCount);
    }
}
