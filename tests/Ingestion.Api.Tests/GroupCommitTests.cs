using System.Net;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.TestHost;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// Concurrent requests share Redis calls and a store's entries (a field per request), yet an entry holds one store's
/// events only, and an event id is queued exactly once.
/// </summary>
public sealed class GroupCommitTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task ConcurrentRequestsEachBecomeOneFieldOfAnEntryOfTheirStoreAndASharedEventIdIsQueuedOncePerStore()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => host.CreateStoreAsync()));
        var client = host.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 60).Select(i =>
        {
            var store = stores[i % 3];
            var body = Batch(
                LayersEvent("page_view", $"\"event_id\":\"unique-{i}\""),
                LayersEvent("page_view", "\"event_id\":\"shared\""),
                LayersEvent());
            return client.PostAsync("/beacon?token=" + Uri.EscapeDataString(store.Token), Json(body));
        }));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var entries = await host.Redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0));
        var ours = stores.Select(s => s.StoreId.ToString()).ToHashSet();
        foreach (var entry in entries.Where(e => QueueEntries.Read(e.Values).Any(v => ours.Contains(v.StoreId))))
        {
            Assert.Single(QueueEntries.Read(entry.Values).Select(v => v.StoreId).Distinct());
        }
        foreach (var (store, index) in stores.Select((s, i) => (s, i)))
        {
            var queued = await host.QueuedEventsAsync(store.StoreId);
            var mine = entries.Where(e => QueueEntries.Read(e.Values).Any(v => v.StoreId == store.StoreId.ToString())).ToList();
            Assert.InRange(mine.Count, 1, 20);
            Assert.Equal(20, mine.Sum(e => e.Values.Count(f => f.Name == QueueKeys.BatchField)));
            Assert.Single(queued, e => e.Event.EventId == "shared");
            Assert.Equal(Enumerable.Range(0, 60).Where(i => i % 3 == index).Select(i => $"unique-{i}").Order(),
                queued.Select(e => e.Event.EventId).Where(id => id.StartsWith("unique-")).Order());
            Assert.Equal(20 + 1 + 20, queued.Count);
        }
    }

    [Fact]
    public async Task WithSeveralPartitionsEachStoreGoesToItsOwnPartitionStream()
    {
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?> { ["Queue:Partitions"] = "4" });
        var client = factory.CreateClient();
        var stores = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => host.CreateStoreAsync()));

        var responses = await Task.WhenAll(stores.Select(store =>
            client.PostAsync("/beacon?token=" + Uri.EscapeDataString(store.Token), Json(Batch(LayersEvent("page_view", "\"event_id\":\"p\""), LayersEvent("page_view", "\"event_id\":\"p\""))))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var db = host.Redis.GetDatabase();
        foreach (var store in stores)
        {
            var partition = QueueKeys.PartitionOf(store.StoreId, 4);
            var entries = await db.StreamRangeAsync(QueueKeys.Stream(partition));
            var mine = entries.SelectMany(e => QueueEntries.Read(e.Values))
                .Where(e => e.StoreId == store.StoreId.ToString()).ToList();
            Assert.Single(mine);
            Assert.True(await IngestionHost.IsMarkedSeenAsync(host.Redis, partition, store.StoreId, "p"));
        }
    }
}
