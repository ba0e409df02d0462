using StackExchange.Redis;

namespace Beacon.Core.Queue;

/// <summary>
/// Configuration changes announced on Redis pub/sub so every instance drops stale cache entries within a
/// second (DESIGN §5). Messages are <c>token:&lt;sha256 hex&gt;</c>, <c>store:&lt;id&gt;</c> (its pipelines changed)
/// or <c>all</c>.
/// </summary>
public static class ConfigChanges
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("beacon:config");

    public static string TokenChanged(string tokenHash) => $"token:{tokenHash}";
    public static string StoreChanged(Guid storeId) => $"store:{storeId}";
    public const string All = "all";

    public static Task PublishAsync(IConnectionMultiplexer redis, string message) =>
        redis.GetSubscriber().PublishAsync(Channel, message);
}
