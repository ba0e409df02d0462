using System.Net;
using Beacon.TestHost;
using StackExchange.Redis;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary><c>Queue:ReplicaAcks</c>: a 2xx only once a replica has the events (Redis WAIT), else 503.</summary>
public sealed class ReplicaAcksTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task WithReplicaAcksARequestIsAcknowledgedOnlyOnceAReplicaHoldsItsEvents()
    {
        await using var master = await RedisServer.StartAsync();
        await using var replica = await RedisServer.StartAsync();
        await FollowAsync(replica, master);
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = master.ConnectionString,
            ["Queue:ReplicaAcks"] = "1",
            ["Queue:ReplicaAckTimeout"] = "00:00:01",
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        Task<HttpResponseMessage> Post(string id) => client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
        {
            Content = Json(Batch(LayersEvent("page_view", $"\"event_id\":\"{id}\""))),
        });

        Assert.Equal(HttpStatusCode.Created, (await Post("replicated")).StatusCode);
        // Read from the replica right after the 201: WAIT promised it has the entry already.
        await using (var onReplica = await ConnectionMultiplexer.ConnectAsync(replica.ConnectionString))
        {
            Assert.Equal(["replicated"], (await QueuedEventsAsync(onReplica, store.StoreId)).Select(e => e.Event.EventId));
        }

        await replica.StopAsync();
        var unreplicated = await Post("unreplicated");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unreplicated.StatusCode);
        Assert.NotNull(unreplicated.Headers.RetryAfter?.Delta);

        // The client's retry (same event id) is acknowledged once the replica is back and has caught up: the
        // master deduplicates it, and the replica then holds the first append, once.
        await replica.StartAsync();
        await FollowAsync(replica, master);
        var retried = await BeaconApiTests.PollAsync(() => Post("unreplicated"), r => r.StatusCode == HttpStatusCode.Created, 30_000);
        Assert.Equal(HttpStatusCode.Created, retried.StatusCode);
        await using (var onReplica = await ConnectionMultiplexer.ConnectAsync(replica.ConnectionString))
        {
            Assert.Equal(["replicated", "unreplicated"], (await QueuedEventsAsync(onReplica, store.StoreId)).Select(e => e.Event.EventId));
        }
    }

    private static async Task FollowAsync(RedisServer replica, RedisServer master)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(replica.ConnectionString);
        await connection.GetServers()[0].ExecuteAsync("REPLICAOF", "127.0.0.1", master.Port);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await connection.GetServers()[0].ExecuteAsync("INFO", "replication")).ToString().Contains("master_link_status:up"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the replica did not sync with its master within 60 s");
            await Task.Delay(50);
        }
    }
}
