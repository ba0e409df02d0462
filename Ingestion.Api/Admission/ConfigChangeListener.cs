using Beacon.Core.Hosting;
using Beacon.Core.Messaging;
using StackExchange.Redis;

namespace Beacon.Ingestion.Admission;

/// <summary>
/// Listens on <see cref="ConfigChanges.Channel"/> and evicts <see cref="TokenCache"/> entries, so a revoked token
/// stops working within a second. Messages missed while Redis was unreachable cannot be known, so a restored
/// connection (or an <c>all</c> message) makes every entry re-read.
/// </summary>
public sealed class ConfigChangeListener(IConnectionMultiplexer redis, TokenCache tokens, ILogger<ConfigChangeListener> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        redis.ConnectionRestored += OnConnectionRestored;
        // Redis may be down at start; keep trying, the service already answers 503 meanwhile.
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await redis.GetSubscriber().SubscribeAsync(ConfigChanges.Channel, (_, message) => OnMessage(message));
                return;
            }
            catch (Exception ex) when (RedisFailure.IsTransient(ex, stoppingToken))
            {
                logger.LogWarning(ex, "Could not subscribe to {Channel}; retrying", ConfigChanges.Channel.ToString());
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored -= OnConnectionRestored;
        try
        {
            await redis.GetSubscriber().UnsubscribeAsync(ConfigChanges.Channel);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            logger.LogDebug(ex, "Unsubscribe failed during shutdown");
        }
        await base.StopAsync(cancellationToken);
    }

    private void OnMessage(RedisValue message)
    {
        switch (ConfigChanges.Parse(message))
        {
            case ConfigChange.Token token:
                tokens.Evict(token.Hash);
                break;
            case ConfigChange.Everything:
                tokens.ExpireAll();
                break;
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => tokens.ExpireAll();
}
