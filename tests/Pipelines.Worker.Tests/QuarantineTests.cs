using Beacon.Core.Data;
using Beacon.Core.Quarantine;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

/// <summary>
/// An entry the worker cannot read is kept in the quarantine table with the raw bytes of every field before it is
/// acked (DESIGN §4); while Postgres cannot take it, it stays pending. Replay appends it to the stream again.
/// </summary>
public sealed class QuarantineTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task UnreadableEntriesAreQuarantinedWithTheirRawBytesAndTheEntriesAroundThemAreDelivered()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();
        var db = scenario.Redis.GetDatabase();
        var before = new[] { scenario.NewEvent(), scenario.NewEvent() };
        var after = new[] { scenario.NewEvent() };
        NameValueEntry[] garbage = [new(QueueKeys.BatchField, new byte[] { 0x0A, 0xFF, 0x01, 0x02 })];
        NameValueEntry[] unknownFormat = [new("payload", "{\"event_type\":\"page_view\"}"u8.ToArray()), new("v", new byte[] { 2 })];
        var deep = scenario.NewEvent();
        deep.Event.ContextualData = NestedStruct(33);
        var tooDeep = QueueEntries.Fields([deep]);

        await scenario.EnqueueAsync(before);
        var garbageId = await db.StreamAddAsync(scenario.Stream, garbage);
        var unknownId = await db.StreamAddAsync(scenario.Stream, unknownFormat);
        var deepId = await db.StreamAddAsync(scenario.Stream, tooDeep);
        await scenario.EnqueueAsync(after);

        var expected = before.Concat(after).Select(e => e.Event.EventId).ToHashSet();
        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            return (await check.Events.Where(e => e.PipelineId == pipeline.Id).Select(e => e.EventId).ToListAsync()).ToHashSet().SetEquals(expected);
        }, TimeSpan.FromSeconds(20), "the three readable events in the events table");
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked");

        var rows = await QuarantinedAsync(scenario, garbageId, unknownId, deepId);
        Assert.Equal(3, rows.Count);
        AssertHolds(rows[garbageId.ToString()], scenario.Stream, garbage);
        Assert.StartsWith("Not an entry of events", rows[garbageId.ToString()].Error);
        Assert.Null(rows[garbageId.ToString()].StoreId);
        AssertHolds(rows[unknownId.ToString()], scenario.Stream, unknownFormat);
        Assert.StartsWith("Holds no events", rows[unknownId.ToString()].Error);
        AssertHolds(rows[deepId.ToString()], scenario.Stream, tooDeep);
        Assert.Contains("too many levels of nesting", rows[deepId.ToString()].Error);
        // Its events cannot be parsed, but their envelopes still name the store: the merchant sees it too.
        Assert.Equal(scenario.StoreId, rows[deepId.ToString()].StoreId);
    }

    [Fact]
    public async Task AnUnreadableEntryStaysPendingWhilePostgresIsDownAndIsQuarantinedOnceItIsBack()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        // A Postgres of this test's own, so it can be stopped without disturbing the other tests.
        var postgres = scenario.Own(await PostgresServer.StartAsync());
        await using (var setup = Backends.CreateDbContext(postgres.ConnectionString()))
        {
            await DatabaseMigrator.MigrateAsync(setup, CancellationToken.None);
            // The test server commits without waiting for the WAL (synchronous_commit=off) and StopAsync is an
            // immediate shutdown: without a checkpoint the restarted server may have lost the tables.
            await setup.Database.ExecuteSqlRawAsync("CHECKPOINT");
        }
        scenario.StartWorker(new Dictionary<string, string?> { ["ConnectionStrings:beacondb"] = postgres.ConnectionString() });
        var db = scenario.Redis.GetDatabase();
        await postgres.StopAsync();

        var id = await db.StreamAddAsync(scenario.Stream, [new NameValueEntry(QueueKeys.BatchField, new byte[] { 0x0A, 0xFF, 0x01, 0x02 })]);
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 1,
            TimeSpan.FromSeconds(10), "the entry read by the worker");
        // Longer than the test's claim idle time (3 s): the entry is reclaimed and fails to be quarantined again.
        await Task.Delay(TimeSpan.FromSeconds(5));
        var pending = await db.StreamPendingMessagesAsync(scenario.Stream, QueueKeys.ConsumerGroup, 10, RedisValue.Null);
        Assert.Equal(id, Assert.Single(pending).MessageId);
        Assert.True(Assert.Single(pending).DeliveryCount >= 2, "the entry was tried again after the claim idle time");

        await postgres.RestartAsync();
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 0,
            TimeSpan.FromSeconds(20), "the entry acked once Postgres is back");
        // Not the pool of before the outage: its connections died with the server.
        await using var check = Backends.CreateDbContext(postgres.ConnectionString() + ";Pooling=false");
        var row = await check.Quarantine.SingleAsync();
        Assert.Equal(id.ToString(), row.EntryId);
        Assert.Equal([0x0A, 0xFF, 0x01, 0x02], row.FieldValues.Single());
    }

    [Fact]
    public async Task AReplayedEntryIsAppendedToItsStreamAgainAndDeliveredOnceTheWorkerCanReadIt()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        var events = new[] { scenario.NewEvent(), scenario.NewEvent() };
        // As if a worker that could not read this entry had quarantined it, before the fix.
        var entry = new QuarantinedEntry
        {
            Stream = scenario.Stream,
            EntryId = $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}-{Random.Shared.Next()}",
            FieldNames = [QueueKeys.BatchField],
            FieldValues = [(byte[])QueueEntries.Fields(events).Single().Value!],
            Error = "written by an older reader",
            StoreId = scenario.StoreId,
        };
        await using (var setup = scenario.CreateDbContext())
        {
            setup.Quarantine.Add(entry);
            await setup.SaveChangesAsync();
        }
        scenario.StartWorker();

        await using (var context = scenario.CreateDbContext())
        {
            var service = new QuarantineService(context, scenario.Redis);
            Assert.Equal(0, await service.ReplayAsync(Guid.NewGuid(), [entry.Id], CancellationToken.None));
            Assert.Equal(1, await service.ReplayAsync(scenario.StoreId, [entry.Id], CancellationToken.None));
        }

        var expected = events.Select(e => e.Event.EventId).ToHashSet();
        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            return (await check.Events.Where(e => e.PipelineId == pipeline.Id).Select(e => e.EventId).ToListAsync()).ToHashSet().SetEquals(expected);
        }, TimeSpan.FromSeconds(20), "the replayed entry's events in the events table");
        await using var after = scenario.CreateDbContext();
        Assert.False(await after.Quarantine.AnyAsync(q => q.Id == entry.Id), "a replayed entry leaves the quarantine");
    }

    private static async Task<Dictionary<string, QuarantinedEntry>> QuarantinedAsync(Scenario scenario, params RedisValue[] ids)
    {
        var entryIds = ids.Select(id => id.ToString()).ToList();
        await using var check = scenario.CreateDbContext();
        return await check.Quarantine.Where(q => q.Stream == scenario.Stream && entryIds.Contains(q.EntryId)).ToDictionaryAsync(q => q.EntryId);
    }

    private static void AssertHolds(QuarantinedEntry row, string stream, NameValueEntry[] fields)
    {
        Assert.Equal(stream, row.Stream);
        Assert.Equal(fields.Select(f => f.Name.ToString()), row.FieldNames);
        Assert.Equal(fields.Select(f => (byte[])f.Value!), row.FieldValues);
        Assert.True(row.FirstSeenAt > DateTimeOffset.UtcNow.AddMinutes(-1));
    }

    private static Struct NestedStruct(int objects)
    {
        var value = new Struct { Fields = { ["k"] = Value.ForNumber(1) } };
        for (var i = 1; i < objects; i++)
        {
            value = new Struct { Fields = { ["k"] = Value.ForStruct(value) } };
        }
        return value;
    }
}
