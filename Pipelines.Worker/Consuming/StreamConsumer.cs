using Beacon.Core.Hosting;
using Beacon.Core.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Reads new entries of every partition stream as a member of the <c>pipelines</c> group and hands them to the
/// <see cref="EntryRouter"/>. Reading stops at shutdown; what was read but not finished stays pending.
/// </summary>
public sealed class StreamConsumer(
    IConnectionMultiplexer redis,
    EntryRouter router,
    ConsumerIdentity identity,
    IOptions<QueueOptions> queueOptions,
    IOptions<WorkerOptions> options,
    ILogger<StreamConsumer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var streams = QueueKeys.AllStreams(queueOptions.Value.Partitions).ToArray();
        var settings = options.Value;
        var db = redis.GetDatabase();
        try
        {
            await EnsureGroupsAsync(db, streams, stoppingToken);
            logger.LogInformation("Consumer {Consumer} reading {Streams}", identity.Name, string.Join(", ", streams));
            while (!stoppingToken.IsCancellationRequested)
            {
                var read = 0;
                foreach (var stream in streams)
                {
                    StreamEntry[] entries;
                    try
                    {
                        entries = await db.StreamReadGroupAsync(stream, QueueKeys.ConsumerGroup, identity.Name, StreamPosition.NewMessages, settings.ReadCount);
                    }
                    catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
                    {
                        // The stream was deleted (e.g. FLUSHALL); recreate the group and go on.
                        await EnsureGroupsAsync(db, [stream], stoppingToken);
                        continue;
                    }
                    catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
                    {
                        logger.LogWarning(ex, "Could not read {Stream}; retrying", stream);
                        await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                        continue;
                    }
                    read += entries.Length;
                    await router.DispatchAsync(stream, entries, stoppingToken);
                }
                if (read == 0)
                {
                    await Task.Delay(settings.IdlePollInterval, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public static async Task EnsureGroupsAsync(IDatabase db, IEnumerable<string> streams, CancellationToken cancellationToken)
    {
        foreach (var stream in streams)
        {
            while (true)
            {
                try
                {
                    await db.StreamCreateConsumerGroupAsync(stream, QueueKeys.ConsumerGroup, "0", createStream: true);
                    break;
                }
                catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
                {
                    break;
                }
                catch (Exception ex) when (RedisFailure.IsTransient(ex, cancellationToken))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
            }
        }
    }
}
