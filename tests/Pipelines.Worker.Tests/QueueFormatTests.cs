using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

/// <summary>The stream entry format the worker reads (a batch field per request), and what it does with any other.</summary>
public sealed class QueueFormatTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task EntriesWithNoBatchFieldOrUnreadableBytesAreQuarantinedWithoutHoldingTheStream()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();
        var current = new[] { scenario.NewEvent(), scenario.NewEvent(), scenario.NewEvent() };
        var db = scenario.Redis.GetDatabase();
        // An entry in a format the worker does not know (one "e" field per event, written by a release long gone).
        var unknown = await db.StreamAddAsync(scenario.Stream, [new NameValueEntry("e", scenario.NewEvent().ToByteArray())]);
        var unreadable = await db.StreamAddAsync(scenario.Stream, [new NameValueEntry(QueueKeys.BatchField, new byte[] { 0x0A, 0xFF, 0x01, 0x02 })]);
        await scenario.EnqueueAsync(current);

        var expected = current.Select(e => e.Event.EventId).ToHashSet();
        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            return (await check.Events.Where(e => e.PipelineId == pipeline.Id).Select(e => e.EventId).ToListAsync()).ToHashSet().SetEquals(expected);
        }, TimeSpan.FromSeconds(20), "the three readable events in the events table");
        await Eventually.WaitAsync(async () => (await db.StreamPendingAsync(scenario.Stream, QueueKeys.ConsumerGroup)).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked, the unreadable ones included");
        await using var quarantine = scenario.CreateDbContext();
        Assert.True(await quarantine.Quarantine.AnyAsync(q => q.Stream == scenario.Stream && q.EntryId == unreadable.ToString()),
            "the unreadable entry was quarantined");
        Assert.True(await quarantine.Quarantine.AnyAsync(q => q.Stream == scenario.Stream && q.EntryId == unknown.ToString()),
            "the entry in an unknown format was quarantined");
    }

    [Fact]
    public async Task AnEntryWithSharedEnvelopeFieldsIsDeliveredWithEveryEventsWholeEnvelope()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();
        var template = scenario.NewEvent();
        var shared = template.Clone();
        shared.Event = null;
        shared.GeoCity = "köln";
        shared.Browser = "Firefox";
        var events = new[] { scenario.NewEvent().Event, scenario.NewEvent().Event };
        var batch = new EnrichedEventBatch { Shared = shared, Events = { events.Select(e => new EnrichedEvent { Event = e }) } };
        await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream, [new NameValueEntry(QueueKeys.BatchField, batch.ToByteArray())]);

        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            var rows = await check.Events.Where(e => e.PipelineId == pipeline.Id).ToListAsync();
            return rows.Count == 2 && rows.All(r => r.StoreId == scenario.StoreId && r.GeoCity == "köln" && r.Browser == "Firefox" && r.Os == shared.Os)
                && rows.Select(r => r.EventId).Order().SequenceEqual(events.Select(e => e.EventId).Order());
        }, TimeSpan.FromSeconds(20), "both events stored with the shared store, geo and browser");
    }

    [Fact]
    public async Task AnEntryWithAFieldPerRequestIsDeliveredWithEachRequestsOwnEnvelope()
    {
        // Requests that share an append share an entry: one batch field each, with envelopes of their own.
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();
        var fields = new[] { "berlin", "paris", "oslo" }.Select(city =>
        {
            var shared = scenario.NewEvent();
            shared.Event = null;
            shared.GeoCity = city;
            var batch = new EnrichedEventBatch { Shared = shared, Events = { new EnrichedEvent { Event = scenario.NewEvent().Event }, new EnrichedEvent { Event = scenario.NewEvent().Event } } };
            return (City: city, Ids: batch.Events.Select(e => e.Event.EventId).ToList(), Field: new NameValueEntry(QueueKeys.BatchField, batch.ToByteArray()));
        }).ToList();
        await scenario.Redis.GetDatabase().StreamAddAsync(scenario.Stream, fields.Select(f => f.Field).ToArray());

        var expected = fields.SelectMany(f => f.Ids.Select(id => (id, f.City))).ToHashSet();
        await Eventually.WaitAsync(async () =>
        {
            await using var check = scenario.CreateDbContext();
            var rows = await check.Events.Where(e => e.PipelineId == pipeline.Id).Select(e => new { e.EventId, e.GeoCity }).ToListAsync();
            return rows.Count == 6 && rows.Select(r => (r.EventId, r.GeoCity!)).ToHashSet().SetEquals(expected);
        }, TimeSpan.FromSeconds(20), "the six events of the three fields, each with its own city");
        Assert.Equal(fields.SelectMany(f => f.Ids), QueueEntries.Read(fields.Select(f => f.Field)).Select(e => e.Event.EventId));
    }

    [Fact]
    public void ABatchFieldIsReadAndCountedInOrder()
    {
        var events = Enumerable.Range(0, 3).Select(i => new EnrichedEvent { StoreId = "s", Event = new Event { EventId = $"id-{i}" } }).ToList();
        var fields = QueueEntries.Fields(events);

        Assert.Equal(QueueKeys.BatchField, fields.Single().Name.ToString());
        Assert.Equal(["id-0", "id-1", "id-2"], QueueEntries.Read(fields).Select(e => e.Event.EventId));
        Assert.Equal(3, QueueEntries.Count(fields));
        Assert.Throws<InvalidProtocolBufferException>(() => QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, new byte[] { 0x0A, 0x05, 0x01 })]));
    }
}
