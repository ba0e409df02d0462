using System.Security.Cryptography;
using System.Text;
using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Every service connects to the AppHost's Redis as an ACL user of its own (DESIGN §5), like its Postgres role
/// (<see cref="DatabaseRoles"/>), with the commands and keys it uses and nothing else: the service on the open
/// internet cannot read the admin site's Data Protection key ring, and none can run <c>CONFIG</c>, <c>FLUSHALL</c>,
/// <c>KEYS</c> or <c>ACL</c>. The users are written into every node's <c>redis.conf</c> at each start, so a password
/// or a rule changed here reaches a restarted server and every node of a cluster alike. The default user keeps the
/// operator's password (<c>redis-cli</c>). With an existing server (<c>ConnectionStrings__redis</c> given) every
/// service gets that connection string, as before.
/// </summary>
internal sealed class RedisUsers(IDistributedApplicationBuilder builder, LocalSecrets secrets)
{
    // Connecting (StackExchange.Redis' handshake: CLIENT SETNAME/SETINFO, INFO for the server's role and version,
    // the cluster's topology, the tie-breaker key and the primary-changed channel), the health check (PING, or
    // CLUSTER INFO on a cluster) and following a cluster's redirections.
    private const string Connection =
        "+hello +auth +ping +echo +select +client|setname +client|id +info +role +get " +
        "+cluster|nodes +cluster|slots +cluster|shards +cluster|info +cluster|myid +asking " +
        "%R~__Booksleeve_TieBreak &__Booksleeve_MasterChanged +subscribe +unsubscribe +psubscribe +punsubscribe +ssubscribe +sunsubscribe";

    // The configuration-change channel (Beacon.Core.Messaging.ConfigChanges).
    private const string ConfigChanges = "&beacon:config +publish";

    // Scripts run their redis.call()s as the user, so the commands inside them are granted as well.
    private const string Scripts = "+eval +evalsha +script|load +script|exists";

    // ASP.NET Core's Redis output cache: entries and their tags (keys __MSOCV_*, __MSOCT_*, after the instance name).
    private const string OutputCache =
        "+set +unlink +del +exists +pexpire +expire +zadd +zscore +zscan +zrange +zrangebyscore +zremrangebyscore +zrem +zcard";

    /// <summary>The rules of each service's user (Beacon.Core.Queue.QueueKeys and Beacon.Core.Drops.DropLogKeys name the keys).</summary>
    private static readonly Dictionary<string, string> Rules = new(StringComparer.OrdinalIgnoreCase)
    {
        // Appends to the queue with the dedup script, counts rate limits, writes the drop log, caches /v1/event-types;
        // WAIT when replica acks are on.
        ["Ingestion"] = $$"""
            ~beacon:{p*}:events ~beacon:{p*}:dedup:* ~beacon:{rehearsal}:* ~beacon:rl:* ~beacon:drops:* ~__MSOC*
            {{Connection}} {{ConfigChanges}} {{Scripts}} {{OutputCache}}
            +xadd +time +hmget +hset +pexpireat +incrby +hincrby +lpush +ltrim +wait
            """,
        // Reads the queue as the consumer group (claims, acks, trims it) and writes deletion drops to the drop log.
        ["Worker"] = $$"""
            ~beacon:{p*}:events ~beacon:drops:*
            {{Connection}} {{ConfigChanges}}
            +xreadgroup +xgroup|create +xack +xclaim +xautoclaim +xpending +xinfo|groups +xinfo|stream +xlen +xtrim
            +hincrby +lpush +ltrim
            """,
        // The Data Protection key ring, the page cache and the sign-in throttle (beacon:admin:*), the drop log (read;
        // deleted with a store), quarantined entries replayed onto the queue.
        ["Admin"] = $$"""
            ~beacon:admin:* ~beacon:drops:* ~beacon:{p*}:events
            {{Connection}} {{ConfigChanges}} {{Scripts}} {{OutputCache}}
            +lrange +rpush +incr +decr +pttl +hgetall +hget +xadd
            """,
    };

    /// <summary>The user's name: <c>beacon_</c> and the service's name, as its Postgres role.</summary>
    public static string UserOf(string service) => DatabaseRoles.RoleOf(service);

    public IResourceBuilder<ParameterResource> PasswordOf(string service) =>
        secrets.GeneratedParameter(builder, $"redis-{service.ToLowerInvariant()}-password");

    /// <summary>
    /// The <c>user</c> lines of <c>redis.conf</c>: each password as its SHA-256 (the configuration file holds no
    /// service's password), rules reset first so that a rule removed here is removed from the server.
    /// </summary>
    public async Task<string> ConfigurationAsync(CancellationToken cancellationToken)
    {
        var lines = new StringBuilder();
        foreach (var (service, rules) in Rules)
        {
            var password = await PasswordOf(service).Resource.GetValueAsync(cancellationToken) ?? "";
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(password)));
            lines.AppendLine($"user {UserOf(service)} reset on #{hash} {string.Join(' ', rules.Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries))}");
        }
        return lines.ToString();
    }
}
