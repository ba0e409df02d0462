using Beacon.Core.Messaging;
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
        var change = ConfigChanges.Parse(message.Message);
        try
        {
            switch (change)
            {
                case ConfigChange.Store store:
                    await cache.EvictStoreAsync(store.StoreId, CancellationToken.None);
                    break;
                case ConfigChange.Everything:
                    await cache.EvictByTagAsync(AdminCache.StoresTag, CancellationToken.None);
                    break;
            }
        }
        catch (RedisException ex)
        {
            logger.LogWarning(ex, "Could not evict cached pages after {Change}", change);
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
