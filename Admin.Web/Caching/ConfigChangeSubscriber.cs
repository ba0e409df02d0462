using Beacon.Core.Queue;
using Microsoft.AspNetCore.OutputCaching;
using StackExchange.Redis;

namespace Beacon.Admin.Caching;

/// <summary>
/// Evicts a store's cached pages when another service announces a change of it (e.g. the worker disabling a
/// pipeline after days of failures), so the site shows it at once rather than when the cache entry expires.
/// </summary>
public sealed class ConfigChangeSubscriber(IConnectionMultiplexer redis, IOutputCacheStore cache, ILogger<ConfigChangeSubscriber> logger)
    : IHostedService
{
    private ChannelMessageQueue? _queue;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _queue = await redis.GetSubscriber().SubscribeAsync(ConfigChanges.Channel);
        _queue.OnMessage(OnMessageAsync);
    }

    private async Task OnMessageAsync(ChannelMessage message)
    {
        var text = message.Message.ToString();
        try
        {
            if (text.StartsWith("store:", StringComparison.Ordinal) && Guid.TryParse(text.AsSpan("store:".Length), out var storeId))
            {
                await cache.EvictStoreAsync(storeId, CancellationToken.None);
            }
            else if (text == ConfigChanges.All)
            {
                await cache.EvictByTagAsync(AdminCache.StoresTag, CancellationToken.None);
            }
        }
        catch (RedisException ex)
        {
            logger.LogWarning(ex, "Could not evict cached pages after {Change}", text);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_queue is not null)
        {
            await _queue.UnsubscribeAsync();
        }
    }
}
