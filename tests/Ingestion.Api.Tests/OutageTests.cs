using System.Net;
using Beacon.Core.Messaging;
using Beacon.Core.Queue;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.TestHost;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>Backends going away: never a 2xx for events that were not stored; known tokens keep working without Postgres.</summary>
public sealed class OutageTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task WithRedisStoppedTheAnswerIs503WithRetryAfterAndNothingIsAcknowledged()
    {
        // Killed after an ack: only appendfsync always promises the acknowledged event survives that.
        await using var redis = await RedisServer.StartAsync(appendOnly: true, appendFsync: "always");
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString.Replace("syncTimeout=5000", "syncTimeout=1500"),
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        Task<HttpResponseMessage> Post(string id) => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(LayersEvent("page_view", $"\"event_id\":\"{id}\""))),
        });
        Assert.Equal(HttpStatusCode.Created, (await Post("before")).StatusCode);

        await redis.StopAsync();
        var during = await Post("during");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
        Assert.NotNull(during.Headers.RetryAfter?.Delta);

        await redis.StartAsync();
        var after = await BeaconApiTests.PollAsync(() => Post("after"), r => r.StatusCode == HttpStatusCode.Created, 15_000);
        Assert.Equal(HttpStatusCode.Created, after.StatusCode);
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var ids = (await QueuedEventsAsync(check, store.StoreId)).Select(e => e.Event.EventId).ToList();
        Assert.Equal("before", ids[0]);
        Assert.DoesNotContain("during", ids);
        Assert.Contains("after", ids);
        Assert.False(await IsMarkedSeenAsync(check, 0, store.StoreId, "during"),
            "a refused event must not be marked as seen");
    }

    [Fact]
    public async Task WhenRedisRefusesTheAppendTheEventsAreNotMarkedAsSeenAndARetrySucceeds()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        Task<HttpResponseMessage> Post() => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(LayersEvent("page_view", "\"event_id\":\"retry-me\""))),
        });
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = check.GetDatabase();

        // The stream key holding a string makes XADD fail inside the enqueue script, after the dedup lookups.
        await db.StringSetAsync(QueueKeys.Stream(0), "not a stream");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await Post()).StatusCode);
        Assert.False(await IsMarkedSeenAsync(check, 0, store.StoreId, "retry-me"),
            "an event that was not appended must not be marked as seen");

        await db.KeyDeleteAsync(QueueKeys.Stream(0));
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);
        var ids = (await QueuedEventsAsync(check, store.StoreId)).Select(e => e.Event.EventId).ToList();
        Assert.Equal(["retry-me"], ids);
    }

    [Fact]
    public async Task WhenRedisRefusesWritesWithMisconfTheAnswerIs503WithRetryAfterAndARetryAfterItRecoversSucceeds()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        Task<HttpResponseMessage> Post(string id) => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(LayersEvent("page_view", $"\"event_id\":\"{id}\""))),
        });
        Assert.Equal(HttpStatusCode.Created, (await Post("before")).StatusCode);
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var server = check.GetServers()[0];

        // MISCONF is what a full disk makes Redis answer (a failed AOF write or snapshot). A snapshot that cannot be
        // renamed into place (a directory in the way) fails the same way without filling a disk; Redis refuses writes
        // after a failed snapshot only when snapshots are configured.
        var inTheWay = Path.Combine(redis.Root, "dump.rdb");
        Directory.CreateDirectory(Path.Combine(inTheWay, "not-empty"));
        await server.ConfigSetAsync("save", "3600 1");
        await SnapshotAsync(server, "err");
        var refused = await Assert.ThrowsAsync<RedisServerException>(() => check.GetDatabase().StringSetAsync("probe", "1"));
        Assert.StartsWith("MISCONF", refused.Message, StringComparison.Ordinal);

        var during = await Post("during");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
        Assert.NotNull(during.Headers.RetryAfter?.Delta);

        Directory.Delete(inTheWay, recursive: true);
        await SnapshotAsync(server, "ok");
        Assert.Equal(HttpStatusCode.Created, (await Post("during")).StatusCode);
        var ids = (await QueuedEventsAsync(check, store.StoreId)).Select(e => e.Event.EventId).ToList();
        Assert.Equal(["before", "during"], ids);
    }

    /// <summary>Runs BGSAVE and waits until <c>rdb_last_bgsave_status</c> is <paramref name="status"/>.</summary>
    private static async Task SnapshotAsync(IServer server, string status)
    {
        await server.SaveAsync(SaveType.BackgroundSave);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var info = await server.InfoRawAsync("persistence") ?? "";
            if (!info.Contains("rdb_bgsave_in_progress:1", StringComparison.Ordinal) && info.Contains($"rdb_last_bgsave_status:{status}", StringComparison.Ordinal))
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"rdb_last_bgsave_status did not become {status}: {info}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task WhenRedisRefusesThePlainAppendOfEventsWithoutIdsTheAnswerIs503AndOtherBatchesAreUnharmed()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        Task<HttpResponseMessage> Post(string? id) => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(id is null ? LayersEvent("page_view") : LayersEvent("page_view", $"\"event_id\":\"{id}\""))),
        });
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = check.GetDatabase();

        // Batches without client ids are appended with a plain XADD, not the dedup script: it fails the same way.
        await db.StringSetAsync(QueueKeys.Stream(0), "not a stream");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await Post(null)).StatusCode);

        // Concurrent batches with and without ids share group commits: each is answered for its own append.
        await db.KeyDeleteAsync(QueueKeys.Stream(0));
        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Post(i % 2 == 0 ? null : $"mixed-{i}")));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var queued = await QueuedEventsAsync(check, store.StoreId);
        Assert.Equal(40, queued.Count);
        Assert.Equal(Enumerable.Range(0, 40).Where(i => i % 2 == 1).Select(i => $"mixed-{i}").Order(),
            queued.Select(e => e.Event.EventId).Where(id => id.StartsWith("mixed-", StringComparison.Ordinal)).Order());
        Assert.Equal(20, queued.Count(e => Guid.TryParse(e.Event.EventId, out var id) && id.Version == 7));
    }

    [Fact]
    public async Task ARevokedTokenStopsWorkingWithinASecondOfTheConfigMessage()
    {
        var store = await host.CreateStoreAsync();
        var client = host.CreateClient();
        Task<HttpResponseMessage> Post() => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(LayersEvent())),
        });
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);
        await using (var db = host.Backends.CreateDbContext())
        {
            var token = await db.AccessTokens.FindAsync(store.TokenId);
            token!.Revoked = true;
            await db.SaveChangesAsync();
        }
        // Without the announcement the cached token is still served: the cache is real.
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);

        await ConfigChanges.PublishAsync(host.Redis, new ConfigChange.Token(Core.Security.TokenHasher.Hash(store.Token)));
        var published = DateTime.UtcNow;
        var response = await BeaconApiTests.PollAsync(Post, r => r.StatusCode == HttpStatusCode.Unauthorized, 1000);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.InRange(DateTime.UtcNow - published, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task WithPostgresDownKnownTokensKeepWorkingAndUnknownOnesGet503()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var backends = new Backends { Postgres = postgres, Redis = host.Backends.Redis };
        await using (var db = backends.CreateDbContext())
        {
            await Core.Data.DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
        }
        var store = await backends.CreateStoreAsync();
        await using var factory = new ServiceFactory<Program>(backends, new Dictionary<string, string?>
        {
            // Expire the cache at once so the test proves stale entries are served while Postgres is down.
            ["Ingestion:TokenCache:KnownFor"] = "00:00:00.001",
        });
        var client = factory.CreateClient();
        Task<HttpResponseMessage> Post(string token) => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + token)
        {
            Content = Json(Batch(LayersEvent())),
        });
        Assert.Equal(HttpStatusCode.Created, (await Post(store.Token)).StatusCode);

        await postgres.StopAsync();

        Assert.Equal(HttpStatusCode.Created, (await Post(store.Token)).StatusCode);
        var unknown = await Post("bk_test_never-seen");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unknown.StatusCode);
        Assert.NotNull(unknown.Headers.RetryAfter);
        Assert.Equal(2, (await host.QueuedEventsAsync(store.StoreId)).Count);
    }

    [Fact]
    public async Task UnknownTokensAreCachedSoAFloodDoesNotReachPostgres()
    {
        var tokens = host.Factory.Services.GetRequiredService<TokenCache>();
        Assert.Null(await tokens.FindAsync("bk_test_flood", CancellationToken.None));

        // A cached answer completes synchronously: no database round trip.
        var again = tokens.FindAsync("bk_test_flood", CancellationToken.None);

        Assert.True(again.IsCompletedSuccessfully);
        Assert.Null(await again);
    }
}
