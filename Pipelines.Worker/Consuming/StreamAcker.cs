using Beacon.Core.Hosting;
using Beacon.Core.Queue;
using System.Threading.Channels;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Acks finished entries in batches (one XACK per stream per round) so acking costs little at high rates.
/// On shutdown it drains what is queued: an entry that was delivered should not be delivered again.
/// </summary>
public sealed class StreamAcker(IConnectionMultiplexer redis, ILogger<StreamAcker> logger) : BackgroundService
{
    private readonly Channel<(string Stream, RedisValue Id)> _acks = Channel.CreateUnbounded<(string, RedisValue)>(
        new UnboundedChannelOptions { SingleReader = true });

    public void Ack(string stream, RedisValue id) => _acks.Writer.TryWrite((stream, id));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _acks.Reader.WaitToReadAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await FlushAsync(drain.Token);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Could not ack every delivered entry before stopping; they will be delivered again");
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var batch = new List<(string Stream, RedisValue Id)>();
        while (batch.Count < 10_000 && _acks.Reader.TryRead(out var ack))
        {
            batch.Add(ack);
        }
        if (batch.Count == 0)
        {
            return;
        }
        var db = redis.GetDatabase();
        foreach (var group in batch.GroupBy(a => a.Stream))
        {
            var ids = group.Select(a => a.Id).ToArray();
            while (true)
            {
                try
                {
                    await db.StreamAcknowledgeAsync(group.Key, Beacon.Core.Queue.QueueKeys.ConsumerGroup, ids);
                    break;
                }
                catch (Exception ex) when (RedisFailure.IsTransient(ex, cancellationToken))
                {
                    // Until Redis is back the entries stay pending; keep trying rather than re-deliver them.
                    logger.LogWarning(ex, "Could not ack {Count} entries of {Stream}; retrying", ids.Length, group.Key);
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
            }
        }
    }
}
