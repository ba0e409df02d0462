using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;

namespace Beacon.Worker.Tests;

public sealed class PostgresOutageTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task WebhooksKeepFlowingWithTheLastKnownPipelinesWhilePostgresIsDown()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        // A Postgres of this test's own, so it can be stopped without disturbing the other tests.
        var postgres = scenario.Own(await PostgresServer.StartAsync());
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await using (var db = Backends.CreateDbContext(postgres.ConnectionString()))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            db.Stores.Add(new Store { Id = scenario.StoreId, Name = "outage" });
            db.Pipelines.Add(new Pipeline
            {
                StoreId = scenario.StoreId,
                Name = "webhook",
                Kind = PipelineKinds.Webhook,
                Url = receiver.Url,
                Secret = TestSecrets.Protector.Seal(WebhookSecret.New()),
            });
            await db.SaveChangesAsync();
        }
        scenario.StartWorker(new Dictionary<string, string?> { ["ConnectionStrings:beacondb"] = postgres.ConnectionString() });
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1, TimeSpan.FromSeconds(20), "the first event delivered");

        await postgres.StopAsync();
        // Longer than the test's pipeline refresh interval (1 s): the periodic reload fails at least once.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var during = await scenario.EnqueueManyAsync(entries: 2, eventsPerEntry: 2);

        await receiver.WaitUntilAsync(r => during.All(e => r.AcceptedEventIds.Contains(e.Event.EventId)),
            TimeSpan.FromSeconds(15), "the events queued during the outage delivered");
    }

    [Fact]
    public async Task AStoreNeverLoadedBeforeBlocksNoOtherStoreWhilePostgresIsDown()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var postgres = scenario.Own(await PostgresServer.StartAsync());
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var unseenStore = Guid.NewGuid();
        await using (var db = Backends.CreateDbContext(postgres.ConnectionString()))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            foreach (var storeId in new[] { scenario.StoreId, unseenStore })
            {
                db.Stores.Add(new Store { Id = storeId, Name = "outage " + storeId.ToString("N")[..6] });
                db.Pipelines.Add(new Pipeline
                {
                    StoreId = storeId,
                    Name = "webhook",
                    Kind = PipelineKinds.Webhook,
                    Url = receiver.Url,
                    Secret = TestSecrets.Protector.Seal(WebhookSecret.New()),
                });
            }
            await db.SaveChangesAsync();
        }
        scenario.StartWorker(new Dictionary<string, string?> { ["ConnectionStrings:beacondb"] = postgres.ConnectionString() });
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1, TimeSpan.FromSeconds(30), "the known store's first event delivered");

        await postgres.StopAsync();
        // The unseen store's entry goes first, so the reader meets it before the known store's entries.
        var unseen = Enumerable.Range(0, 2).Select(_ =>
        {
            var e = scenario.NewEvent();
            e.StoreId = unseenStore.ToString();
            return e;
        }).ToList();
        await scenario.EnqueueAsync(unseen);
        var known = await scenario.EnqueueManyAsync(entries: 3, eventsPerEntry: 2);

        await receiver.WaitUntilAsync(r => known.All(e => r.AcceptedEventIds.Contains(e.Event.EventId)),
            TimeSpan.FromSeconds(30), "the known store's events delivered while the unseen store's pipelines cannot be read");
        Assert.DoesNotContain(receiver.AcceptedEventIds, id => unseen.Any(e => e.Event.EventId == id));

        await postgres.RestartAsync();
        // Left pending, the unseen store's entry comes back by reclaim (ClaimMinIdle 3 s in tests) once Postgres answers.
        await receiver.WaitUntilAsync(r => unseen.All(e => r.AcceptedEventIds.Contains(e.Event.EventId)),
            TimeSpan.FromSeconds(90), "the unseen store's events delivered after Postgres came back");
    }
}
