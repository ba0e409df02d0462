using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Tests;

/// <summary>What the worker does for the merchant data controls (DESIGN §9) and the pipeline settings.</summary>
public sealed class DataControlsTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task APipelinesOwnBatchSizeIsTheSizeOfItsDeliveries()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        await using (var db = scenario.CreateDbContext())
        {
            var row = await db.Pipelines.SingleAsync(p => p.Id == pipeline.Id);
            PipelineSettings.Set(row, batchSize: 3, lingerMs: 2000);
            await db.SaveChangesAsync();
        }
        scenario.StartWorker();

        var sent = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 10);

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == sent.Count, TimeSpan.FromSeconds(20), "all 10 events");
        Assert.All(receiver.Received, request => Assert.InRange(request.EventIds.Count, 1, 3));
        Assert.True(receiver.Received.Count >= 4, $"{receiver.Received.Count} requests for 10 events in batches of 3");
    }

    [Fact]
    public async Task ASuppressedDevicesEventsAreDroppedAsSuppressedUntilTheSuppressionIsLifted()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        var suppression = await AddDeletionAsync(scenario, "dev-gone", suppress: true, requestedAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        scenario.StartWorker();

        var gone = Enumerable.Range(0, 5).Select(_ => WithDevice(scenario.NewEvent(), "dev-gone")).ToList();
        var kept = Enumerable.Range(0, 5).Select(_ => scenario.NewEvent()).ToList();
        await scenario.EnqueueAsync([.. gone.Take(2), .. kept, .. gone.Skip(2)]);

        await Eventually.WaitAsync(async () => await CountAsync(scenario, pipeline.Id) == kept.Count, TimeSpan.FromSeconds(20), "the 5 other events");
        await WaitForAckAsync(scenario);
        Assert.Equal(0, await CountAsync(scenario, pipeline.Id, "dev-gone"));
        var counts = await scenario.Redis.GetDatabase().HashGetAllAsync(DropLogKeys.Counts(scenario.StoreId));
        Assert.Equal(5, (long)counts.Single(c => c.Name == "product_view|suppressed").Value);
        Assert.Contains("\"code\":\"suppressed\"", (string?)await scenario.Redis.GetDatabase().ListGetByIndexAsync(DropLogKeys.Recent(scenario.StoreId), 0));

        await using (var db = scenario.CreateDbContext())
        {
            await db.DataDeletions.Where(d => d.Id == suppression.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.LiftedAt, DateTimeOffset.UtcNow));
        }
        await ConfigChanges.PublishAsync(scenario.Redis, ConfigChanges.StoreChanged(scenario.StoreId));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await scenario.EnqueueAsync([WithDevice(scenario.NewEvent(), "dev-gone")]);
        await Eventually.WaitAsync(async () => await CountAsync(scenario, pipeline.Id, "dev-gone") == 1, TimeSpan.FromSeconds(20),
            "the device's event once the suppression is lifted");
    }

    [Fact]
    public async Task ADeletionWithoutSuppressionDropsOnlyTheQueuedEventsReceivedBeforeIt()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        var requestedAt = DateTimeOffset.UtcNow;
        await AddDeletionAsync(scenario, "dev-old", suppress: false, requestedAt);
        scenario.StartWorker();

        var before = WithDevice(scenario.NewEvent(), "dev-old");
        before.ReceivedAt = Timestamp.FromDateTimeOffset(requestedAt.AddSeconds(-30));
        var after = WithDevice(scenario.NewEvent(), "dev-old");
        after.ReceivedAt = Timestamp.FromDateTimeOffset(requestedAt.AddSeconds(30));
        await scenario.EnqueueAsync([before, after, scenario.NewEvent()]);

        await Eventually.WaitAsync(async () => await CountAsync(scenario, pipeline.Id) == 2, TimeSpan.FromSeconds(20), "2 rows");
        await WaitForAckAsync(scenario);
        await using var db = scenario.CreateDbContext();
        Assert.Equal([after.Event.EventId], await db.Events.Where(e => e.PipelineId == pipeline.Id && e.DeviceId == "dev-old").Select(e => e.EventId).ToListAsync());
        var counts = await scenario.Redis.GetDatabase().HashGetAllAsync(DropLogKeys.Counts(scenario.StoreId));
        Assert.Equal(1, (long)counts.Single(c => c.Name == "product_view|deleted").Value);
    }

    [Fact]
    public async Task APipelineRequiringConsentIsGivenOnlyConsentedEventsAndCountsTheOthers()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var marketing = scenario.Own(await WebhookReceiver.StartAsync());
        var everything = scenario.Own(await WebhookReceiver.StartAsync());
        var requiring = await scenario.AddWebhookPipelineAsync(marketing.Url);
        await scenario.AddWebhookPipelineAsync(everything.Url);
        await using (var db = scenario.CreateDbContext())
        {
            await db.Pipelines.Where(p => p.Id == requiring.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.RequiredConsent, ["marketing"]));
        }
        scenario.StartWorker();

        var consented = Enumerable.Range(0, 3).Select(_ => WithConsent(scenario.NewEvent(), "analytics", "marketing")).ToList();
        var analyticsOnly = WithConsent(scenario.NewEvent(), "analytics");
        var none = scenario.NewEvent();
        await scenario.EnqueueAsync([consented[0], analyticsOnly, consented[1], none, consented[2]]);

        await everything.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == 5, TimeSpan.FromSeconds(20), "all 5 events");
        await marketing.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == 3, TimeSpan.FromSeconds(20), "the 3 consented events");
        await WaitForAckAsync(scenario);
        Assert.Equal(consented.Select(e => e.Event.EventId).Order(), marketing.AcceptedEventIds.Distinct().Order());
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeliveryStats.Where(s => s.PipelineId == requiring.Id).SumAsync(s => s.ConsentMissing) == 2;
        }, TimeSpan.FromSeconds(10), "consent_missing 2 in the pipeline's stats");
    }

    private static Protos.V1.EnrichedEvent WithConsent(Protos.V1.EnrichedEvent envelope, params string[] consent)
    {
        envelope.Event.Consent.Add(consent);
        return envelope;
    }

    private static Protos.V1.EnrichedEvent WithDevice(Protos.V1.EnrichedEvent envelope, string deviceId)
    {
        envelope.Event.DeviceId = deviceId;
        return envelope;
    }

    private static async Task<DataDeletion> AddDeletionAsync(Scenario scenario, string deviceId, bool suppress, DateTimeOffset requestedAt)
    {
        var deletion = new DataDeletion
        {
            StoreId = scenario.StoreId,
            IdentifierField = DeletionIdentifiers.DeviceId,
            IdentifierValue = deviceId,
            Suppress = suppress,
            RequestedBy = "test",
            RequestedAt = requestedAt,
            Status = DeletionStatuses.Completed,
        };
        await using var db = scenario.CreateDbContext();
        db.DataDeletions.Add(deletion);
        await db.SaveChangesAsync();
        return deletion;
    }

    private static async Task<int> CountAsync(Scenario scenario, Guid pipelineId, string? deviceId = null)
    {
        await using var db = scenario.CreateDbContext();
        return await db.Events.CountAsync(e => e.PipelineId == pipelineId && (deviceId == null || e.DeviceId == deviceId));
    }

    /// <summary>Every entry acked: whatever was dropped was dropped for good, not left pending.</summary>
    private static Task WaitForAckAsync(Scenario scenario) =>
        Eventually.WaitAsync(async () =>
        {
            var groups = await scenario.Redis.GetDatabase().StreamGroupInfoAsync(scenario.Stream);
            return groups.Single(g => g.Name == QueueKeys.ConsumerGroup).PendingMessageCount == 0;
        }, TimeSpan.FromSeconds(20), "no entry pending");
}
