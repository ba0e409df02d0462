using Beacon.Core.Data;
using Beacon.Core.Messaging;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Beacon.Worker.Archive;
using Beacon.Worker.Routing;
using Beacon.Worker.Tests.Infrastructure;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

public sealed class ArchiveTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task EveryIngestedBatchIsArchivedAsTheQueueHoldsItEvenWhenTheStoreHasNoPipeline()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        scenario.StartWorker();

        // As ingestion queues a request: one entry, the envelope (store, source, receipt, enrichment) shared.
        var entries = new List<(List<EnrichedEvent> Events, byte[] Bytes)>();
        for (var i = 0; i < 3; i++)
        {
            var receivedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
            var events = Enumerable.Range(0, 4).Select(_ => scenario.NewEvent()).ToList();
            events.ForEach(e => e.ReceivedAt = receivedAt);
            var fields = QueueEntries.Fields(events);
            await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream, fields);
            entries.Add((events, (byte[])fields[0].Value!));
        }

        await Eventually.WaitAsync(async () => (await ArchivedAsync(scenario)).Count == 12, TimeSpan.FromSeconds(20), "12 archived events");
        var archived = await ArchivedAsync(scenario);
        foreach (var sent in entries.SelectMany(e => e.Events))
        {
            Assert.Equal(sent, archived[sent.Event.EventId]);
        }
        // One row per batch, holding the entry's own bytes and the ids of its events.
        var rows = await ArchiveRowsAsync(scenario);
        Assert.Equal(3, rows.Count);
        foreach (var (events, bytes) in entries)
        {
            var row = Assert.Single(rows, r => r.Bytes.AsSpan().SequenceEqual(bytes));
            Assert.Equal(events.Select(e => e.Event.EventId), row.EventIds);
        }
        // Archived is enough to ack: nothing stays pending.
        await Eventually.WaitAsync(async () => (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked");
    }

    [Fact]
    public async Task AnEntrySharedByRequestsIsArchivedAsOneRowPerRequestWithItsOwnBytes()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        scenario.StartWorker();

        // Requests that shared an append share an entry: a batch field each, with its own receipt time.
        var requests = Enumerable.Range(0, 3).Select(i =>
        {
            var receivedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMilliseconds(-i));
            var events = Enumerable.Range(0, 2).Select(_ => scenario.NewEvent()).ToList();
            events.ForEach(e => e.ReceivedAt = receivedAt);
            return (Events: events, Bytes: (byte[])QueueEntries.Fields(events)[0].Value!);
        }).ToList();
        await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream,
            requests.Select(r => new NameValueEntry(QueueKeys.BatchField, r.Bytes)).ToArray());

        await Eventually.WaitAsync(async () => (await ArchivedAsync(scenario)).Count == 6, TimeSpan.FromSeconds(20), "6 archived events");
        var rows = await ArchiveRowsAsync(scenario);
        Assert.Equal(3, rows.Count);
        foreach (var (events, bytes) in requests)
        {
            var row = Assert.Single(rows, r => r.Bytes.AsSpan().SequenceEqual(bytes));
            Assert.Equal(events.Select(e => e.Event.EventId), row.EventIds);
        }
    }

    [Fact]
    public async Task WithTheArchiveTurnedOffEntriesAreAckedAndNothingIsArchived()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:ArchiveRetention"] = "00:00:00" });

        var events = await scenario.EnqueueManyAsync(entries: 2, eventsPerEntry: 3);

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count == events.Count, TimeSpan.FromSeconds(20), "6 delivered events");
        await Eventually.WaitAsync(async () => (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked");
        Assert.Empty(await ArchivedAsync(scenario));
    }

    [Fact]
    public async Task EveryDeliveryAttemptIsRecordedWithItsEventsAFailedFirstAttemptThenTheRetry()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var calls = 0;
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = Interlocked.Increment(ref calls) == 1 ? 500 : 200;
            return context.Response.WriteAsync("ok?");
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:RetrySchedule:0"] = "00:00:00.300" });

        var events = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count == 2, TimeSpan.FromSeconds(20), "the retry delivered");

        List<(int Attempt, int? Status, string Outcome, string? Error, string[] Ids, Guid BatchId)> attempts = [];
        await Eventually.WaitAsync(async () =>
        {
            attempts = await AttemptsAsync(scenario, pipeline.Id);
            return attempts.Count == 2;
        }, TimeSpan.FromSeconds(10), "two recorded attempts");
        Assert.Equal((1, 500, AttemptOutcomes.Retrying), (attempts[0].Attempt, attempts[0].Status, attempts[0].Outcome));
        Assert.Equal("HTTP 500 Internal Server Error", attempts[0].Error);
        Assert.Equal((2, 200, AttemptOutcomes.Delivered), (attempts[1].Attempt, attempts[1].Status, attempts[1].Outcome));
        Assert.Null(attempts[1].Error);
        Assert.All(attempts, a => Assert.Equal(events.Select(e => e.Event.EventId), a.Ids));
        Assert.Equal(attempts[0].BatchId, attempts[1].BatchId);
    }

    [Fact]
    public async Task AReplayLeavesOutWhatADeletionReachesAndWhatThePipelinesRequiredConsentDoesNotCover()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var worker = scenario.StartWorker(new Dictionary<string, string?> { ["Worker:ReplayPollInterval"] = "00:00:00.100" });
        var from = DateTimeOffset.UtcNow;
        EnrichedEvent Event(string device, params string[] consent)
        {
            var e = scenario.NewEvent();
            e.Event.DeviceId = device;
            e.Event.Consent.Add(consent);
            return e;
        }
        var consented = new[] { Event("kept", "marketing"), Event("kept", "analytics", "marketing") };
        await scenario.EnqueueAsync([.. consented, Event("kept", "analytics"), Event("deleted", "marketing")]);
        await Eventually.WaitAsync(async () => (await ArchivedAsync(scenario)).Count == 4, TimeSpan.FromSeconds(20), "4 archived events");
        var to = DateTimeOffset.UtcNow;
        await Task.Delay(50);

        // Afterwards: the device's deletion, and a pipeline that requires marketing consent; announced as Admin.Web does.
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        await using (var db = scenario.CreateDbContext())
        {
            db.DataDeletions.Add(new DataDeletion
            {
                StoreId = scenario.StoreId, IdentifierField = DeletionIdentifiers.DeviceId, IdentifierValue = "deleted",
                RequestedBy = "test", RequestedAt = DateTimeOffset.UtcNow, Status = DeletionStatuses.Completed,
            });
            await db.SaveChangesAsync();
            await db.Pipelines.Where(p => p.Id == pipeline.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.RequiredConsent, ["marketing"]));
        }
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        var cache = worker.GetRequiredService<Beacon.Worker.Routing.PipelineCache>();
        await Eventually.WaitAsync(async () =>
        {
            var routing = await cache.ForStoreAsync(scenario.StoreId, CancellationToken.None);
            return routing.Deletions.Count == 1 && routing.Pipelines.Any(p => p.Id == pipeline.Id && p.RequiredConsent.Count == 1);
        }, TimeSpan.FromSeconds(30), "the worker sees the deletion and the pipeline's required consent");

        await using (var db = scenario.CreateDbContext())
        {
            var replay = new Replay { StoreId = scenario.StoreId, PipelineId = pipeline.Id, From = from, To = to };
            db.Replays.Add(replay);
            await db.SaveChangesAsync();
            await Eventually.WaitAsync(async () =>
            {
                await using var check = scenario.CreateDbContext();
                return (await check.Replays.FindAsync(replay.Id))!.Status == ReplayStatuses.Completed;
            }, TimeSpan.FromSeconds(30), "the replay completed");
        }

        Assert.Equal(consented.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Order());
    }

    [Fact]
    public async Task AReplayDeliversEveryRequestOfASharedEntryOnceEvenWhenTheyShareAReceiptTimeAndARowIsArchivedTwice()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Worker:ReplayPollInterval"] = "00:00:00.100",
            ["Worker:ReplayPageSize"] = "1",
        });
        var from = DateTimeOffset.UtcNow.AddSeconds(-1);
        // Three requests in one entry, received in the same millisecond: three rows with one (received_at, entry_id).
        var receivedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        var requests = Enumerable.Range(0, 3).Select(_ =>
        {
            var events = Enumerable.Range(0, 2).Select(_ => scenario.NewEvent()).ToList();
            events.ForEach(e => e.ReceivedAt = receivedAt);
            return events;
        }).ToList();
        await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream,
            requests.Select(r => new NameValueEntry(QueueKeys.BatchField, QueueEntries.Fields(r)[0].Value)).ToArray());
        var after = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);
        await Eventually.WaitAsync(async () => (await ArchivedAsync(scenario)).Count == 8, TimeSpan.FromSeconds(20), "8 archived events");
        await using (var db = scenario.CreateDbContext())
        {
            // A reclaimed entry archived a second time: the same row again.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO event_archive SELECT * FROM event_archive
                WHERE store_id = {0} AND received_at = {1} ORDER BY event_ids LIMIT 1
                """, scenario.StoreId, receivedAt.ToDateTimeOffset());
        }

        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var replay = new Replay { StoreId = scenario.StoreId, PipelineId = pipeline.Id, From = from, To = DateTimeOffset.UtcNow.AddSeconds(1) };
        await using (var db = scenario.CreateDbContext())
        {
            db.Replays.Add(replay);
            await db.SaveChangesAsync();
        }
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return (await db.Replays.FindAsync(replay.Id))!.Status == ReplayStatuses.Completed;
        }, TimeSpan.FromSeconds(30), "the replay completed");

        var expected = requests.SelectMany(r => r).Concat(after).Select(e => e.Event.EventId).Order().ToList();
        Assert.Equal(expected, receiver.AcceptedEventIds.Order().ToList());
        await using (var db = scenario.CreateDbContext())
        {
            var done = (await db.Replays.FindAsync(replay.Id))!;
            Assert.Equal((8L, 8L, 8L), (done.Total!.Value, done.Scanned, done.Sent));
        }
    }

    [Fact]
    public async Task AWindowIsReplayedIntoAPipelineCreatedAfterwardsThroughItsFilterAndThrottled()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Worker:ReplayPollInterval"] = "00:00:00.100",
            ["Worker:ReplayPageSize"] = "2",
            ["Worker:ReplayEventsPerSecond"] = "100",
        });
        var before = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 3);
        await Task.Delay(50);
        var from = DateTimeOffset.UtcNow;
        var views = new List<EnrichedEvent>();
        for (var i = 0; i < 5; i++)
        {
            var entry = Enumerable.Range(0, 5).Select(_ => scenario.NewEvent()).Append(scenario.NewEvent("add_to_cart")).ToList();
            views.AddRange(entry.Take(5));
            await scenario.EnqueueAsync(entry);
        }
        await Task.Delay(50);
        var to = DateTimeOffset.UtcNow;
        await Task.Delay(50);
        var after = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 3);
        await Eventually.WaitAsync(async () => (await ArchivedAsync(scenario)).Count == 3 + 30 + 3, TimeSpan.FromSeconds(20), "36 archived events");

        // Created after the window; it takes product_view only.
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url, eventTypes: ["product_view"]);
        var replay = new Replay { StoreId = scenario.StoreId, PipelineId = pipeline.Id, From = from, To = to };
        await using (var db = scenario.CreateDbContext())
        {
            db.Replays.Add(replay);
            await db.SaveChangesAsync();
        }
        var started = DateTimeOffset.UtcNow;

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return (await db.Replays.FindAsync(replay.Id))!.Status == ReplayStatuses.Completed;
        }, TimeSpan.FromSeconds(30), "the replay completed");
        var elapsed = DateTimeOffset.UtcNow - started;

        Assert.Equal(views.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Order());
        await using (var db = scenario.CreateDbContext())
        {
            var done = (await db.Replays.FindAsync(replay.Id))!;
            Assert.Equal((30L, 30L, 25L, 5L), (done.Total!.Value, done.Scanned, done.Sent, done.Skipped));
            Assert.NotNull(done.CompletedAt);
        }
        // 30 events at 100 per second, in pages of 10: at least 0.2 s (the last page ends the replay at once).
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.2), $"took {elapsed}");
        // The webhook-id follows from the replay and the batch's events, so a page sent again keeps it.
        Assert.All(receiver.Received, r => Assert.StartsWith("msg_", r.Id));
        Assert.Equal(receiver.Received.Select(r => r.Id).Order(),
            receiver.Received.Select(r => "msg_" + ReplayRunner.BatchIdOf(replay.Id, views.Where(v => r.EventIds.Contains(v.Event.EventId)).ToList()).ToString("N")).Order());
        Assert.DoesNotContain(receiver.AcceptedEventIds, id => before.Concat(after).Any(e => e.Event.EventId == id));
    }

    [Fact]
    public async Task DaysPastTheRetentionAreDroppedWholeAndTheComingDaysCreated()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var services = scenario.StartWorker();
        var partitioner = services.GetRequiredService<DayPartitioner>();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var old = today.AddDays(-9);
        var kept = today.AddDays(-6);
        await partitioner.EnsureAsync(EventArchiveTable.Name, [old, kept], CancellationToken.None);

        await services.GetRequiredService<ArchiveMaintainer>().MaintainAsync(CancellationToken.None);

        var partitions = await PartitionsAsync(scenario, EventArchiveTable.Name);
        Assert.DoesNotContain(DayPartitions.Name(EventArchiveTable.Name, old), partitions);
        Assert.Contains(DayPartitions.Name(EventArchiveTable.Name, kept), partitions);
        Assert.Contains(DayPartitions.Name(EventArchiveTable.Name, today.AddDays(3)), partitions);
        Assert.Contains(DayPartitions.Name(DeliveryAttemptsTable.Name, today), await PartitionsAsync(scenario, DeliveryAttemptsTable.Name));
    }

    private static async Task<Dictionary<string, EnrichedEvent>> ArchivedAsync(Scenario scenario) =>
        (await ArchiveRowsAsync(scenario)).SelectMany(r => EventArchiveTable.ReadEvents(r.Bytes)).ToDictionary(e => e.Event.EventId);

    private static async Task<List<(string[] EventIds, byte[] Bytes)>> ArchiveRowsAsync(Scenario scenario)
    {
        await using var connection = new NpgsqlConnection(scenario.Backends.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT event_ids, events FROM event_archive WHERE store_id = $1", connection);
        command.Parameters.Add(new() { Value = scenario.StoreId });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string[], byte[])>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetFieldValue<string[]>(0), reader.GetFieldValue<byte[]>(1)));
        }
        return rows;
    }

    private static async Task<List<(int, int?, string, string?, string[], Guid)>> AttemptsAsync(Scenario scenario, Guid pipelineId)
    {
        await using var connection = new NpgsqlConnection(scenario.Backends.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT attempt, status, outcome, error, event_ids, batch_id FROM delivery_attempts WHERE pipeline_id = $1 ORDER BY at, attempt", connection);
        command.Parameters.Add(new() { Value = pipelineId });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(int, int?, string, string?, string[], Guid)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetInt32(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<string[]>(4), reader.GetGuid(5)));
        }
        return rows;
    }

    private static async Task<List<string>> PartitionsAsync(Scenario scenario, string table)
    {
        await using var connection = new NpgsqlConnection(scenario.Backends.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(DayPartitions.ListSql, connection);
        command.Parameters.Add(new() { Value = table });
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }
}
