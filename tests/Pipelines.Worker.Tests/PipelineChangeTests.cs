using Beacon.Core.Messaging;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Tests;

/// <summary>
/// A pipeline created while its store has traffic: every event queued after Admin.Web announced it reaches it, although
/// the worker routes the store's events from a cache (issue 12: the reader used to go on with the pipelines it had
/// until the reload ended, so the first events after a creation could miss the new pipeline).
/// </summary>
public sealed class PipelineChangeTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task APipelineCreatedWhileItsStoreHasTrafficGetsEveryEventQueuedAfterItWasAnnounced()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var first = scenario.Own(await WebhookReceiver.StartAsync());
        var added = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(first.Url);
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:WebhookLinger"] = "00:00:00.050" });
        var before = await scenario.EnqueueManyAsync(entries: 5, eventsPerEntry: 2);
        await first.WaitUntilAsync(r => r.AcceptedEventIds.Count >= before.Count, Patience, "the store's first events, so its pipelines are cached");

        await scenario.AddWebhookPipelineAsync(added.Url);
        // The reload the announcement asks for cannot read the pipelines for a while (a slow query, a busy database).
        await using var blocker = scenario.CreateDbContext();
        var blocking = await blocker.Database.BeginTransactionAsync();
        await blocker.Database.ExecuteSqlRawAsync("LOCK TABLE pipelines IN ACCESS EXCLUSIVE MODE");
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        // Published on the Redis the worker reads: received by its subscriber before these entries are read.
        await Task.Delay(100);
        var after = await scenario.EnqueueManyAsync(entries: 5, eventsPerEntry: 2);
        await Task.Delay(TimeSpan.FromMilliseconds(700));
        await blocking.CommitAsync();

        var ids = after.Select(e => e.Event.EventId).ToList();
        await added.WaitUntilAsync(r => ids.All(r.AcceptedEventIds.Contains), Patience, "every event queued after the announcement at the new pipeline");
        await first.WaitUntilAsync(r => ids.All(r.AcceptedEventIds.Contains), Patience, "and at the first one");
        Assert.DoesNotContain(before[0].Event.EventId, added.AcceptedEventIds);
    }

    [Fact]
    public async Task WhenTheReloadCannotReadThePipelinesTheStoresEventsGoOnAfterTheWaitAndDoNotWaitAgain()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Worker:WebhookLinger"] = "00:00:00.050",
            ["Worker:AnnouncedChangeWait"] = "00:00:01",
        });
        var warm = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= warm.Count, Patience, "the store's pipelines cached");

        await using var blocker = scenario.CreateDbContext();
        var blocking = await blocker.Database.BeginTransactionAsync();
        await blocker.Database.ExecuteSqlRawAsync("LOCK TABLE pipelines IN ACCESS EXCLUSIVE MODE");
        try
        {
            await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
            await Task.Delay(100);
            var started = DateTime.UtcNow;
            var during = await scenario.EnqueueManyAsync(entries: 20, eventsPerEntry: 1);
            // The reload stays blocked until the end of the test: the events go to the pipelines the worker knows after one wait of 1 s,
            // not one wait per entry (20 s).
            await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= warm.Count + during.Count, TimeSpan.FromSeconds(15), "the events while the database is blocked");
            var took = DateTime.UtcNow - started;
            Assert.True(took >= TimeSpan.FromSeconds(0.9), $"delivered after {took.TotalSeconds:0.0} s: the entries did not wait for the announced change");
            Assert.True(took < TimeSpan.FromSeconds(10), $"delivered after {took.TotalSeconds:0.0} s: each entry waited");
        }
        finally
        {
            await blocking.RollbackAsync();
        }
    }
}
