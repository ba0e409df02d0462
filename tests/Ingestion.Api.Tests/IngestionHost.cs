using System.Net.Http.Headers;
using System.Text;
using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using StackExchange.Redis;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// Ingestion.Api in memory against the shared Postgres and Redis, with helpers to post batches and to read back
/// what reached the stream. Tests isolate themselves by creating a store each.
/// </summary>
public sealed class IngestionHost : IAsyncLifetime
{
    public Backends Backends { get; private set; } = null!;
    public ServiceFactory<Program> Factory { get; private set; } = null!;
    public ConnectionMultiplexer Redis { get; private set; } = null!;

    /// <summary>The seed payload: three valid Layers events.</summary>
    public const string SeedPayload = """
        {"events":[
         {"event_type":"product_click","timestamp":"2025-01-15T14:30:00Z","session_id":"abc123","device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd","product_id":7003338965178,"position":3},
         {"event_type":"collection_view","timestamp":"2025-01-15T14:29:45Z","session_id":"abc123","device_id":"device-uuid","collection_handle":"summer-collection"},
         {"event_type":"block_view","timestamp":"2025-01-15T14:30:15Z","session_id":"abc123","device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd"}]}
        """;

    public async Task InitializeAsync()
    {
        Backends = await Backends.GetAsync();
        Factory = new ServiceFactory<Program>(Backends, new Dictionary<string, string?>
        {
            // Short windows keep the rate-limit tests fast; limits themselves come from the tokens.
            ["Ingestion:RateLimit:Window"] = "00:00:02",
        });
        Redis = await ConnectionMultiplexer.ConnectAsync(Backends.RedisConnectionString);
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await Redis.DisposeAsync();
    }

    public HttpClient CreateClient() => Factory.CreateClient();

    public Task<TestStore> CreateStoreAsync(IEnumerable<string>? allowedOrigins = null, int? perMinute = null, int? perIpPerMinute = null) =>
        Backends.CreateStoreAsync(allowedOrigins: allowedOrigins, rateLimitPerMinute: perMinute, rateLimitPerIpPerMinute: perIpPerMinute);

    /// <summary>Every envelope of <paramref name="storeId"/> in the stream, in order.</summary>
    public Task<List<EnrichedEvent>> QueuedEventsAsync(Guid storeId) => QueuedEventsAsync(Redis, storeId);

    public static async Task<List<EnrichedEvent>> QueuedEventsAsync(IConnectionMultiplexer redis, Guid storeId)
    {
        var entries = await redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0));
        var events = new List<EnrichedEvent>();
        foreach (var entry in entries)
        {
            // A field per request whose events the entry holds, all of them batches; one store per entry.
            Assert.NotEmpty(entry.Values);
            Assert.All(entry.Values, v => Assert.Equal(QueueKeys.BatchField, v.Name.ToString()));
            var batch = QueueEntries.Read(entry.Values);
            if (batch.Count > 0 && batch[0].StoreId == storeId.ToString())
            {
                Assert.All(batch, e => Assert.Equal(storeId.ToString(), e.StoreId));
                events.AddRange(batch);
            }
        }
        return events;
    }

    /// <summary>Whether a client event id is remembered as seen for the store (a field of one of its dedup hashes).</summary>
    public static async Task<bool> IsMarkedSeenAsync(IConnectionMultiplexer redis, int partition, Guid storeId, string eventId) =>
        (await DedupHashesHoldingAsync(redis, partition, storeId, eventId)).Count > 0;

    /// <summary>The store's dedup hashes (one per time bucket) that hold the event id.</summary>
    public static async Task<List<RedisKey>> DedupHashesHoldingAsync(IConnectionMultiplexer redis, int partition, Guid storeId, string eventId)
    {
        var db = redis.GetDatabase();
        var holding = new List<RedisKey>();
        foreach (var key in redis.GetServers()[0].Keys(pattern: QueueKeys.DedupPrefix(partition, storeId) + ":*"))
        {
            if (await db.HashExistsAsync(key, eventId))
            {
                holding.Add(key);
            }
        }
        return holding;
    }

    /// <summary>Stream entries (batches) of a store.</summary>
    public async Task<int> QueuedEntriesAsync(Guid storeId)
    {
        var entries = await Redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0));
        return entries.Count(e => QueueEntries.Read(e.Values).Any(v => v.StoreId == storeId.ToString()));
    }

    /// <summary>The windows are 2 s here: start a burst early in one so it does not straddle two.</summary>
    public static async Task WaitForFreshWindowAsync()
    {
        var intoWindow = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() % 2000;
        if (intoWindow > 1000)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(2000 - intoWindow + 20));
        }
    }

    public static StringContent Json(string body, string mediaType = "application/json") =>
        new(body, Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    public static string Batch(params string[] events) => "{\"events\":[" + string.Join(",", events) + "]}";

    /// <summary>A valid Layers event of the given type with the required fields filled in.</summary>
    public static string LayersEvent(string type = "page_view", string extra = "") =>
        $$"""{"event_type":"{{type}}","timestamp":"2025-01-15T14:30:00Z","session_id":"s-1"{{(extra.Length > 0 ? "," + extra : "")}}}""";
}
