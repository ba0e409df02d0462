using StackExchange.Redis;

namespace Beacon.Core.Messaging;

/// <summary>
/// Configuration changes announced on Redis pub/sub so every instance drops stale cache entries within a
/// second (DESIGN §5). Messages are <c>token:&lt;sha256 hex&gt;</c>, <c>store:&lt;id&gt;</c> or <c>all</c>
/// (<see cref="ConfigChange"/>).
/// </summary>
public static class ConfigChanges
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("beacon:config");

    public static Task PublishAsync(IConnectionMultiplexer redis, ConfigChange change) =>
        redis.GetSubscriber().PublishAsync(Channel, change.ToString());

    /// <summary>The change a message announces; null for a message this release does not know (ignored).</summary>
    public static ConfigChange? Parse(RedisValue message)
    {
        var text = (string?)message;
        if (text is null)
        {
            return null;
        }
        if (text == ConfigChange.EverythingMessage)
        {
            return ConfigChange.Everything.Instance;
        }
        if (text.StartsWith(ConfigChange.TokenPrefix, StringComparison.Ordinal) && text.Length > ConfigChange.TokenPrefix.Length)
        {
            return new ConfigChange.Token(text[ConfigChange.TokenPrefix.Length..]);
        }
        if (text.StartsWith(ConfigChange.StorePrefix, StringComparison.Ordinal)
            && Guid.TryParse(text.AsSpan(ConfigChange.StorePrefix.Length), out var storeId))
        {
            return new ConfigChange.Store(storeId);
        }
        return null;
    }
}
