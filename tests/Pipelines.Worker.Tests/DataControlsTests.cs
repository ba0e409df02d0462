using Beacon.Core.Data;
using Beacon.Core.Drops;
using Beacon.Core.Messaging;
using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

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
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task QueuedEventsADeletionReachesAreNeitherDeliveredNorStoredNorArchivedAndTheOthersAre(bool suppress)
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var table = await scenario.AddPostgresPipelineAsync();
        var db = scenario.Redis.GetDatabase();

        // Queued before the request, in the shapes ingestion writes: a request mixing the device with others, one of the
        // device alone, and an entry that two requests shared (one of them untouched by the request).
        var queuedAt = DateTimeOffset.UtcNow.AddSeconds(-30);
        EnrichedEvent Queued(string deviceId)
        {
            var envelope = WithDevice(scenario.NewEvent(), deviceId);
            envelope.ReceivedAt = Timestamp.FromDateTimeOffset(queuedAt);
            return envelope;
        }
        var (gone, kept) = (Enumerable.Range(0, 4).Select(_ => Queued("dev-gone")).ToList(), Enumerable.Range(0, 4).Select(_ => Queued("dev-1")).ToList());
        await scenario.EnqueueAsync([gone[0], kept[0], gone[1]]);
        await scenario.EnqueueAsync([gone[2]]);
        var untouched = (byte[])QueueEntries.Fields([kept[1], kept[2]])[0].Value!;
        await db.StreamAddAsync(scenario.Stream,
            [new NameValueEntry(QueueKeys.BatchField, untouched), new NameValueEntry(QueueKeys.BatchField, (byte[])QueueEntries.Fields([gone[3], kept[3]])[0].Value!)]);
        // Received after the request: a deletion leaves it alone, a suppression does not.
        var later = WithDevice(scenario.NewEvent(), "dev-gone");
        await scenario.EnqueueAsync([later]);
        await AddDeletionAsync(scenario, "dev-gone", suppress, requestedAt: queuedAt.AddSeconds(10));
        scenario.StartWorker();

        var delivered = suppress ? kept : [.. kept, later];
        var expected = delivered.Select(e => e.Event.EventId).Order().ToList();
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == delivered.Count, TimeSpan.FromSeconds(20), "the events no request reaches");
        await Eventually.WaitAsync(async () => await CountAsync(scenario, table.Id) == delivered.Count, TimeSpan.FromSeconds(20), "their rows");
        await WaitForAckAsync(scenario);

        Assert.Equal(expected, receiver.Received.SelectMany(r => r.EventIds).Distinct().Order());
        await using (var check = scenario.CreateDbContext())
        {
            Assert.Equal(expected, await check.Events.Where(e => e.PipelineId == table.Id).Select(e => e.EventId).OrderBy(id => id).ToListAsync());
        }
        var archived = await ArchiveRowsAsync(scenario);
        Assert.Equal(expected, archived.SelectMany(r => EventArchiveTable.ReadEvents(r.Bytes)).Select(e => e.Event.EventId).Order());
        Assert.Equal(expected, archived.SelectMany(r => r.EventIds).Order());
        // A request no deletion touches is archived as the stream holds it.
        Assert.Contains(archived, r => r.Bytes.AsSpan().SequenceEqual(untouched));
        var counts = await db.HashGetAllAsync(DropLogKeys.Counts(scenario.StoreId));
        Assert.Equal(suppress ? 5 : 4, (long)counts.Single(c => c.Name == $"product_view|{(suppress ? "suppressed" : "deleted")}").Value);
    }

    [Fact]
    public async Task ADeletionLearnedWhileItsEventsAreInFlightKeepsThemOutOfTheArchiveRetriesDeadLettersAttemptsAndLaterBatches()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (parkingHook, rejectingHook) = (scenario.Own(await WebhookReceiver.StartAsync()), scenario.Own(await WebhookReceiver.StartAsync()));
        parkingHook.Respond = async (context, _) => { await gate.Task; context.Response.StatusCode = 500; };
        rejectingHook.Respond = async (context, _) => { await gate.Task; context.Response.StatusCode = 400; };
        var parking = await scenario.AddWebhookPipelineAsync(parkingHook.Url);
        var rejecting = await scenario.AddWebhookPipelineAsync(rejectingHook.Url);
        // The archive cannot write until the test lets it: its events wait there while the deletion becomes known.
        await using var blocker = scenario.CreateDbContext();
        var blocking = await blocker.Database.BeginTransactionAsync();
        await blocker.Database.ExecuteSqlRawAsync($"LOCK TABLE {EventArchiveTable.Name} IN ACCESS EXCLUSIVE MODE");
        var worker = scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Worker:MaxConcurrentBatchesPerPipeline"] = "1",
            ["Worker:MaxConcurrentWebhookBatches"] = "1",
            ["Worker:RetrySchedule:0"] = "01:00:00",
            ["Worker:PipelineRefreshInterval"] = "00:01:00",
        });
        var db = scenario.Redis.GetDatabase();

        // The first batch is at both destinations when the deletion comes; the second waits in their lanes behind it.
        var (first, firstKept) = (WithDevice(scenario.NewEvent(), "dev-x"), scenario.NewEvent());
        await scenario.EnqueueAsync([first, firstKept]);
        await parkingHook.WaitUntilAsync(r => r.Received.Count == 1, TimeSpan.FromSeconds(20), "the first batch at the parking hook");
        await rejectingHook.WaitUntilAsync(r => r.Received.Count == 1, TimeSpan.FromSeconds(20), "the first batch at the rejecting hook");
        var (second, secondKept) = (WithDevice(scenario.NewEvent(), "dev-x"), scenario.NewEvent());
        await scenario.EnqueueAsync([second, secondKept]);
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 2,
            TimeSpan.FromSeconds(10), "the second entry read");
        await Task.Delay(300);

        await AddDeletionAsync(scenario, "dev-x", suppress: false, DateTimeOffset.UtcNow);
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        var cache = worker.GetRequiredService<Beacon.Worker.Routing.PipelineCache>();
        await Eventually.WaitAsync(() => Task.FromResult(cache.KnownDeletions(scenario.StoreId).Count == 1), TimeSpan.FromSeconds(10), "the worker knowing the deletion");
        gate.SetResult();
        await blocking.RollbackAsync();

        var keptIds = new[] { firstKept.Event.EventId, secondKept.Event.EventId }.Order().ToList();
        var goneIds = new[] { first.Event.EventId, second.Event.EventId };
        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            return await check.RetryBatches.Where(r => r.PipelineId == parking.Id).SumAsync(r => r.EventCount) == 2
                && await check.DeadLetters.CountAsync(d => d.PipelineId == rejecting.Id) == 2;
        }, TimeSpan.FromSeconds(20), "both kept events parked at one pipeline and dead letters at the other");
        await WaitForAckAsync(scenario);

        await using (var check = scenario.CreateDbContext())
        {
            var parked = await check.RetryBatches.Where(r => r.PipelineId == parking.Id).ToListAsync();
            Assert.Equal(keptIds, parked.SelectMany(r => EnrichedEventBatch.Parser.ParseFrom(r.Payload).Events).Select(e => e.Event.EventId).Order());
            Assert.Equal(keptIds, await check.DeadLetters.Where(d => d.PipelineId == rejecting.Id).Select(d => d.EventId).OrderBy(id => id).ToListAsync());
        }
        Assert.Equal(keptIds, (await ArchiveRowsAsync(scenario)).SelectMany(r => r.EventIds).Order());
        // The first batch had left before the deletion; the second never did.
        Assert.All([parkingHook, rejectingHook], hook => Assert.DoesNotContain(second.Event.EventId, hook.Received.SelectMany(r => r.EventIds)));
        Assert.Contains(first.Event.EventId, parkingHook.Received[0].EventIds);
        await Eventually.WaitAsync(async () => (await AttemptEventIdsAsync(scenario)).Count == 4, TimeSpan.FromSeconds(10), "4 recorded attempts");
        Assert.All(await AttemptEventIdsAsync(scenario), ids => Assert.DoesNotContain(ids, goneIds.Contains));
        var counts = await db.HashGetAllAsync(DropLogKeys.Counts(scenario.StoreId));
        Assert.True((long)counts.Single(c => c.Name == "product_view|deleted").Value >= 2);
    }

    [Fact]
    public async Task AParkedBatchThatFailsAgainAfterADeletionIsKeptWithoutTheEventsItReaches()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var worker = scenario.StartWorker(new Dictionary<string, string?> { ["Worker:RetrySchedule:0"] = "01:00:00", ["Worker:RetrySchedule:1"] = "01:00:00" });
        var (gone, kept) = (WithDevice(scenario.NewEvent(), "dev-x"), scenario.NewEvent());
        await scenario.EnqueueAsync([gone, kept]);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id);
        }, TimeSpan.FromSeconds(20), "the batch parked after its first attempt");

        await AddDeletionAsync(scenario, "dev-x", suppress: false, DateTimeOffset.UtcNow);
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        var cache = worker.GetRequiredService<Beacon.Worker.Routing.PipelineCache>();
        await Eventually.WaitAsync(() => Task.FromResult(cache.KnownDeletions(scenario.StoreId).Count == 1), TimeSpan.FromSeconds(10), "the worker knowing the deletion");
        // Due now; the deletion's sweep has not run (this test has no Admin.Web): the retry itself must leave the event out.
        await using (var db = scenario.CreateDbContext())
        {
            await db.RetryBatches.Where(r => r.PipelineId == pipeline.Id).ExecuteUpdateAsync(set => set.SetProperty(r => r.NextAttemptAt, DateTimeOffset.UtcNow));
        }

        await receiver.WaitUntilAsync(r => r.Received.Count == 2, TimeSpan.FromSeconds(20), "the second attempt");
        Assert.Equal([kept.Event.EventId], receiver.Received[1].EventIds);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id && r.Attempts == 2);
        }, TimeSpan.FromSeconds(20), "the second attempt recorded");
        await using var check = scenario.CreateDbContext();
        var parked = await check.RetryBatches.SingleAsync(r => r.PipelineId == pipeline.Id);
        Assert.Equal(1, parked.EventCount);
        Assert.Equal([kept.Event.EventId], EnrichedEventBatch.Parser.ParseFrom(parked.Payload).Events.Select(e => e.Event.EventId));
    }

    [Fact]
    public async Task AnUnreadableEntryHoldingASuppressedIdentifierIsDroppedRatherThanQuarantined()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        await AddDeletionAsync(scenario, "dev-hidden", suppress: true, DateTimeOffset.UtcNow);
        scenario.StartWorker();
        var db = scenario.Redis.GetDatabase();

        // Envelopes that name the store, one without its event: unreadable as a whole.
        NameValueEntry[] Unreadable(string deviceId) =>
            QueueEntries.Fields([WithDevice(scenario.NewEvent(), deviceId), new EnrichedEvent { StoreId = scenario.StoreId.ToString() }]);
        var hidden = await db.StreamAddAsync(scenario.Stream, Unreadable("dev-hidden"));
        var other = await db.StreamAddAsync(scenario.Stream, Unreadable("dev-1"));

        await using var check = scenario.CreateDbContext();
        await Eventually.WaitAsync(() => check.Quarantine.AnyAsync(q => q.EntryId == other.ToString()), TimeSpan.FromSeconds(20), "the other entry quarantined");
        await WaitForAckAsync(scenario);
        Assert.Equal([other.ToString()], await check.Quarantine.Where(q => q.StoreId == scenario.StoreId).Select(q => q.EntryId).ToListAsync());
        var counts = await db.HashGetAllAsync(DropLogKeys.Counts(scenario.StoreId));
        Assert.Equal(1, (long)counts.Single(c => c.Name == "unknown|suppressed").Value);
        Assert.DoesNotContain(hidden.ToString(), await check.Quarantine.Select(q => q.EntryId).ToListAsync());
    }

    [Fact]
    public async Task QueuedEventsOfADeletedStoreAreNeitherDeliveredNorArchivedAndOtherStoresAre()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var other = await fixture.Backends.CreateStoreAsync();
        var ofDeleted = Enumerable.Range(0, 3).Select(_ => scenario.NewEvent()).ToList();
        var ofOther = scenario.NewEvent();
        ofOther.StoreId = other.StoreId.ToString();
        await scenario.EnqueueAsync(ofDeleted);
        await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream, QueueEntries.Fields([ofOther]));
        await using (var db = scenario.CreateDbContext())
        {
            await db.Stores.Where(s => s.Id == scenario.StoreId).ExecuteDeleteAsync();
            db.DataDeletions.Add(new DataDeletion { StoreId = scenario.StoreId, RequestedBy = "test", Status = DeletionStatuses.Completed });
            await db.SaveChangesAsync();
        }
        scenario.StartWorker();

        await Eventually.WaitAsync(async () => (await ArchiveRowsAsync(scenario, other.StoreId)).Count == 1, TimeSpan.FromSeconds(20), "the other store's event archived");
        await WaitForAckAsync(scenario);
        Assert.Empty(await ArchiveRowsAsync(scenario));
        // The deleted store's drop log went with it and is not written again.
        Assert.False(await scenario.Redis.GetDatabase().KeyExistsAsync(DropLogKeys.Counts(scenario.StoreId)));
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

    [Fact]
    public async Task APipelineHashingTheDeviceIdGetsItsSaltedSha256WhileTheStoresOtherPipelinesGetTheRawId()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var hashedHook = scenario.Own(await WebhookReceiver.StartAsync());
        var rawHook = scenario.Own(await WebhookReceiver.StartAsync());
        var hashing = await scenario.AddWebhookPipelineAsync(hashedHook.Url);
        await scenario.AddWebhookPipelineAsync(rawHook.Url);
        var hashingTable = await scenario.AddPostgresPipelineAsync();
        var rawTable = await scenario.AddPostgresPipelineAsync();
        byte[] salt;
        await using (var db = scenario.CreateDbContext())
        {
            await db.Pipelines.Where(p => p.Id == hashing.Id || p.Id == hashingTable.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.HashFields, ["device_id", "user_id"]));
            salt = await db.Stores.Where(s => s.Id == scenario.StoreId).Select(s => s.IdentifierSalt).SingleAsync();
        }
        Assert.Equal(32, salt.Length);
        // The hashing webhook fails its first attempt: the retry is hashed too (from the raw values it was parked with).
        var calls = 0;
        hashedHook.Respond = (context, _) =>
        {
            context.Response.StatusCode = Interlocked.Increment(ref calls) == 1 ? 500 : 200;
            return Task.CompletedTask;
        };
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:RetrySchedule:0"] = "00:00:00.300" });

        var withUser = scenario.NewEvent();
        withUser.Event.UserId = "user-42";
        var events = new[] { scenario.NewEvent(), withUser };
        await scenario.EnqueueAsync(events);

        await rawHook.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == 2, TimeSpan.FromSeconds(20), "both events, raw");
        await hashedHook.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == 2, TimeSpan.FromSeconds(20), "both events, hashed, after a retry");
        Assert.True(hashedHook.Received.Count >= 2, "the first attempt failed and was retried");
        var expectedDevice = Sha256Hex(salt, "dev-1");
        Assert.All(hashedHook.Received, request => Assert.All(EventsOf(request), e =>
        {
            Assert.Equal(expectedDevice, e.GetProperty("device_id").GetString());
            Assert.Equal("sess-1", e.GetProperty("session_id").GetString());
        }));
        Assert.Contains(hashedHook.Received.SelectMany(EventsOf), e => e.TryGetProperty("user_id", out var user) && user.GetString() == Sha256Hex(salt, "user-42"));
        Assert.All(rawHook.Received.SelectMany(EventsOf), e => Assert.Equal("dev-1", e.GetProperty("device_id").GetString()));
        Assert.Contains(rawHook.Received.SelectMany(EventsOf), e => e.TryGetProperty("user_id", out var user) && user.GetString() == "user-42");

        await Eventually.WaitAsync(async () => await CountAsync(scenario, hashingTable.Id) == 2 && await CountAsync(scenario, rawTable.Id) == 2,
            TimeSpan.FromSeconds(20), "2 rows per postgres pipeline");
        await using var check = scenario.CreateDbContext();
        var hashedRows = await check.Events.Where(e => e.PipelineId == hashingTable.Id).ToListAsync();
        Assert.Equal([expectedDevice, expectedDevice], hashedRows.Select(r => r.DeviceId));
        Assert.Equal(1, await check.Database.SqlQuery<int>(
            $"SELECT count(*)::int AS \"Value\" FROM events WHERE pipeline_id = {hashingTable.Id} AND data->>'user_id' = {Sha256Hex(salt, "user-42")}").SingleAsync());
        Assert.All(await check.Events.Where(e => e.PipelineId == rawTable.Id).ToListAsync(), row => Assert.Equal("dev-1", row.DeviceId));
        Assert.Equal(1, await check.Database.SqlQuery<int>(
            $"SELECT count(*)::int AS \"Value\" FROM events WHERE pipeline_id = {rawTable.Id} AND data->>'user_id' = 'user-42'").SingleAsync());
    }

    [Fact]
    public async Task OnlyOneOfTwoWorkersRunsARetentionPassAtATime()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var first = scenario.StartWorker().GetRequiredService<Beacon.Worker.Retention.RetentionSweeper>();
        var second = scenario.StartWorker().GetRequiredService<Beacon.Worker.Retention.RetentionSweeper>();
        var expired = await AddStoredEventAsync(scenario, scenario.StoreId, (await scenario.AddPostgresPipelineAsync()).Id, DateTimeOffset.UtcNow.AddDays(-91));

        // The test holds the quarantine table, the pass's last place: the first worker's pass stops there with the lock held.
        await using var blocker = scenario.CreateDbContext();
        await using var blocking = await blocker.Database.BeginTransactionAsync();
        await blocker.Database.ExecuteSqlRawAsync("LOCK TABLE quarantine IN ACCESS EXCLUSIVE MODE");
        var firstPass = first.TrySweepAsync(CancellationToken.None);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Database.SqlQuery<int>($"""
                SELECT count(*)::int AS "Value" FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objid = {(int)Beacon.Core.Data.AdvisoryLocks.RetentionPass} AND objsubid = 1
                """).SingleAsync() == 1;
        }, TimeSpan.FromSeconds(20), "the first worker's pass under way");
        Assert.False(firstPass.IsCompleted);

        // At once: the second worker neither waits for the first nor runs the pass beside it.
        Assert.Null(await second.TrySweepAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        await blocking.RollbackAsync();
        var swept = await firstPass;
        Assert.NotNull(swept);
        Assert.True(swept["events"] >= 1, "the first worker's pass removed the expired event");
        await using (var check = scenario.CreateDbContext())
        {
            Assert.False(await check.Events.AnyAsync(e => e.EventId == expired));
        }
        // Once the first pass is over, the lock is free again for either worker.
        Assert.NotNull(await second.TrySweepAsync(CancellationToken.None));
    }

    private static string Sha256Hex(byte[] salt, string value) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData([.. salt, .. System.Text.Encoding.UTF8.GetBytes(value)]));

    private static List<System.Text.Json.JsonElement> EventsOf(ReceivedWebhook request) =>
        System.Text.Json.JsonDocument.Parse(request.Body).RootElement.GetProperty("events").EnumerateArray().ToList();

    [Fact]
    public async Task RetentionRemovesEachStoresOldDataAfterItsOwnNumberOfDaysOrTheDefaults()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var shortLived = await scenario.AddPostgresPipelineAsync();
        var other = await fixture.Backends.CreateStoreAsync();
        await using (var db = scenario.CreateDbContext())
        {
            await db.Stores.Where(s => s.Id == scenario.StoreId)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.EventRetentionDays, 2).SetProperty(x => x.DeadLetterRetentionDays, 1));
        }
        var now = DateTimeOffset.UtcNow;
        var oldEvent = await AddStoredEventAsync(scenario, scenario.StoreId, shortLived.Id, now.AddDays(-3));
        var recentEvent = await AddStoredEventAsync(scenario, scenario.StoreId, shortLived.Id, now.AddDays(-1));
        var otherStoresOldEvent = await AddStoredEventAsync(scenario, other.StoreId, shortLived.Id, now.AddDays(-3));
        var otherStoresExpiredEvent = await AddStoredEventAsync(scenario, other.StoreId, shortLived.Id, now.AddDays(-91));
        long oldLetter, recentLetter, oldQuarantined, otherQuarantined;
        await using (var db = scenario.CreateDbContext())
        {
            DeadLetter Letter(DateTimeOffset at) => new()
            {
                PipelineId = shortLived.Id, StoreId = scenario.StoreId, EventId = Guid.NewGuid().ToString(), EventType = "page_view",
                Envelope = [], CreatedAt = at,
            };
            QuarantinedEntry Entry(Guid store, DateTimeOffset at) => new()
            {
                Stream = "beacon:test", EntryId = Guid.NewGuid().ToString("N"), Error = "test", StoreId = store, FirstSeenAt = at,
            };
            var letters = new[] { Letter(now.AddDays(-2)), Letter(now.AddHours(-2)) };
            var entries = new[] { Entry(scenario.StoreId, now.AddDays(-2)), Entry(other.StoreId, now.AddDays(-2)) };
            db.DeadLetters.AddRange(letters);
            db.Quarantine.AddRange(entries);
            await db.SaveChangesAsync();
            (oldLetter, recentLetter, oldQuarantined, otherQuarantined) = (letters[0].Id, letters[1].Id, entries[0].Id, entries[1].Id);
        }

        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:RetentionInterval"] = "00:00:00.500" });

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return !await db.Events.AnyAsync(e => e.EventId == oldEvent) && !await db.DeadLetters.AnyAsync(d => d.Id == oldLetter)
                && !await db.Quarantine.AnyAsync(q => q.Id == oldQuarantined) && !await db.Events.AnyAsync(e => e.EventId == otherStoresExpiredEvent);
        }, TimeSpan.FromSeconds(20), "the store's old data gone");
        await using var check = scenario.CreateDbContext();
        Assert.True(await check.Events.AnyAsync(e => e.EventId == recentEvent));
        Assert.True(await check.Events.AnyAsync(e => e.EventId == otherStoresOldEvent), "another store keeps 90 days by default");
        Assert.True(await check.DeadLetters.AnyAsync(d => d.Id == recentLetter));
        Assert.True(await check.Quarantine.AnyAsync(q => q.Id == otherQuarantined), "another store keeps 30 days by default");
    }

    private static async Task<string> AddStoredEventAsync(Scenario scenario, Guid storeId, Guid pipelineId, DateTimeOffset receivedAt)
    {
        var eventId = Guid.NewGuid().ToString();
        await using var db = scenario.CreateDbContext();
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO events (event_id, store_id, pipeline_id, event_type, source, timestamp, received_at, data)
            VALUES ({eventId}, {storeId}, {pipelineId}, 'page_view', 'beacon', {receivedAt}, {receivedAt}, CAST({"{}"} AS jsonb))
            """);
        return eventId;
    }

    private static Protos.Queue.EnrichedEvent WithConsent(Protos.Queue.EnrichedEvent envelope, params string[] consent)
    {
        envelope.Event.Consent.Add(consent);
        return envelope;
    }

    private static Protos.Queue.EnrichedEvent WithDevice(Protos.Queue.EnrichedEvent envelope, string deviceId)
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

    private static async Task<List<(string[] EventIds, byte[] Bytes)>> ArchiveRowsAsync(Scenario scenario, Guid? storeId = null)
    {
        await using var connection = new Npgsql.NpgsqlConnection(scenario.Backends.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"SELECT event_ids, events FROM {EventArchiveTable.Name} WHERE store_id = $1", connection);
        command.Parameters.Add(new() { Value = storeId ?? scenario.StoreId });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string[], byte[])>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetFieldValue<string[]>(0), reader.GetFieldValue<byte[]>(1)));
        }
        return rows;
    }

    private static async Task<List<string[]>> AttemptEventIdsAsync(Scenario scenario)
    {
        await using var db = scenario.CreateDbContext();
        return await db.Database.SqlQuery<string[]>(
            $"SELECT event_ids AS \"Value\" FROM delivery_attempts WHERE store_id = {scenario.StoreId}").ToListAsync();
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
