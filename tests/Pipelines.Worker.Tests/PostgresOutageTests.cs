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
}
