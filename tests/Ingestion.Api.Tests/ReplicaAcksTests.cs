using System.Diagnostics;
using System.Net;
using Beacon.TestHost;
using StackExchange.Redis;
using Xunit.Abstractions;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary><c>Queue:ReplicaAcks</c>: a 2xx only once a replica has the events (Redis WAIT), else 503.</summary>
public sealed class ReplicaAcksTests(IngestionHost host, ITestOutputHelper output) : IClassFixture<IngestionHost>
{
    /// <summary>
    /// Concurrent requests share group commits, so one WAIT may cover many requests: every one of them must still be
    /// on the replica when its 201 arrives. Also prints what the WAIT costs against the same load without it.
    /// </summary>
    [Fact]
    public async Task UnderConcurrentLoadEveryAcknowledgedEventIsOnTheReplicaAndTheCostIsMeasured()
    {
        await using var master = await RedisServer.StartAsync(appendOnly: true);
        await using var replica = await RedisServer.StartAsync();
        await FollowAsync(replica, master);
        var store = await host.CreateStoreAsync(perMinute: int.MaxValue, perIpPerMinute: int.MaxValue);
        var without = await LoadAsync(master, store, replicaAcks: 0);
        var with = await LoadAsync(master, store, replicaAcks: 1);

        await using var onReplica = await ConnectionMultiplexer.ConnectAsync(replica.ConnectionString);
        var replicated = (await QueuedEventsAsync(onReplica, store.StoreId)).Select(e => e.Event.EventId).ToHashSet();
        Assert.All(with.Acknowledged, id => Assert.Contains(id, replicated));
        output.WriteLine($"without Queue:ReplicaAcks: {without}");
        output.WriteLine($"with Queue:ReplicaAcks=1:  {with}");
    }

    private sealed record LoadFigures(List<string> Acknowledged, int Requests, TimeSpan Elapsed, double P50Ms, double P99Ms)
    {
        public override string ToString() =>
            $"{Requests} requests of 10 events by 16 clients in {Elapsed.TotalSeconds:0.0} s: {Requests / Elapsed.TotalSeconds:0} req/s, " +
            $"p50 {P50Ms:0.0} ms, p99 {P99Ms:0.0} ms";
    }

    private async Task<LoadFigures> LoadAsync(RedisServer master, TestStore store, int replicaAcks)
    {
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = master.ConnectionString,
            ["Queue:ReplicaAcks"] = $"{replicaAcks}",
        });
        var client = factory.CreateClient();
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        async Task SendAsync()
        {
            for (var i = 0; i < 100; i++)
            {
                var ids = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
                var started = Stopwatch.GetTimestamp();
                using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + store.Token)
                {
                    Content = Json(Batch(ids.Select(id => LayersEvent("page_view", $"\"event_id\":\"{id}\"")).ToArray())),
                });
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                ids.ToList().ForEach(acknowledged.Add);
            }
        }
        // One request first: the service's start-up is not part of the figures.
        await Task.WhenAll(Enumerable.Range(0, 1).Select(_ => client.PostAsync("/beacon?token=" + store.Token, Json(Batch(LayersEvent())))));
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(SendAsync)));
        var sorted = latencies.Order().ToList();
        return new LoadFigures([.. acknowledged], sorted.Count, clock.Elapsed, sorted[sorted.Count / 2], sorted[(int)(sorted.Count * 0.99)]);
    }

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
