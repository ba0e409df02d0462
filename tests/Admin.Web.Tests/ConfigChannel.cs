using System.Diagnostics;
using Beacon.Core.Messaging;
using StackExchange.Redis;

namespace Beacon.Admin.Tests;

/// <summary>Listens on the <c>beacon:config</c> channel like ingestion and the worker do.</summary>
public sealed class ConfigChannel : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _redis;
    private readonly ChannelMessageQueue _queue;
    private readonly List<ConfigChange?> _seen = [];

    private ConfigChannel(ConnectionMultiplexer redis, ChannelMessageQueue queue)
    {
        _redis = redis;
        _queue = queue;
    }

    public static async Task<ConfigChannel> ListenAsync(string redisConnectionString)
    {
        var redis = await ConnectionMultiplexer.ConnectAsync(redisConnectionString);
        return new ConfigChannel(redis, await redis.GetSubscriber().SubscribeAsync(ConfigChanges.Channel));
    }

    /// <summary>Waits for <paramref name="expected"/>; returns how long it took, or throws after <paramref name="timeout"/>.</summary>
    public async Task<TimeSpan> WaitForAsync(ConfigChange expected, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(timeout);
        while (!_seen.Contains(expected))
        {
            try
            {
                _seen.Add(ConfigChanges.Parse((await _queue.ReadAsync(cts.Token)).Message));
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No '{expected}' on {ConfigChanges.Channel} within {timeout}; saw: {string.Join(", ", _seen)}");
            }
        }
        return watch.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        await _queue.UnsubscribeAsync();
        await _redis.DisposeAsync();
    }
}
