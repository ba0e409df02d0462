using System.Text.Json;
using Beacon.Core.Messaging;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Tests;

public sealed class PostgresPipelineTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task EventsLandInTheEventsTableWithTheirColumnsAndTheRestAsJson()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();

        var alana = scenario.NewEvent("purchase-complete");
        alana.Event.VisitorId = "visitor-9";
        alana.Event.ProductIds.Add(["p1", "p2"]);
        alana.Event.Revenue = "19.99";
        alana.Event.Currency = "EUR";
        alana.Event.Metadata = new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["coupon"] = Google.Protobuf.WellKnownTypes.Value.ForString("X1") } };
        var sent = new List<EnrichedEvent> { alana };
        sent.AddRange(await scenario.EnqueueManyAsync(entries: 20, eventsPerEntry: 10));
        await scenario.EnqueueAsync([alana]);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Events.CountAsync(e => e.PipelineId == pipeline.Id) == sent.Count;
        }, TimeSpan.FromSeconds(20), $"{sent.Count} rows");

        await using var check = scenario.CreateDbContext();
        var rows = await check.Events.Where(e => e.PipelineId == pipeline.Id).ToDictionaryAsync(e => e.EventId);
        foreach (var envelope in sent)
        {
            var e = envelope.Event;
            var row = rows[e.EventId];
            Assert.Equal(scenario.StoreId, row.StoreId);
            Assert.Equal(e.EventType, row.EventType);
            Assert.Equal("beacon", row.Source);
            Assert.Equal(e.Timestamp.ToDateTimeOffset(), row.Timestamp, TimeSpan.FromTicks(10));
            Assert.Equal(envelope.ReceivedAt.ToDateTimeOffset(), row.ReceivedAt, TimeSpan.FromTicks(10));
            Assert.Equal(e.SessionId, row.SessionId);
            Assert.Equal(e.DeviceId, row.DeviceId);
            Assert.Null(row.CustomerId);
            Assert.Equal(string.IsNullOrEmpty(e.VisitorId) ? null : e.VisitorId, row.VisitorId);
            Assert.Equal(e.ProductId, row.ProductId);
            Assert.Equal(envelope.GeoCountry, row.GeoCountry);
            Assert.Equal(envelope.GeoState, row.GeoState);
            Assert.Equal(envelope.GeoCity, row.GeoCity);
            Assert.Equal(envelope.DeviceType, row.DeviceType);
            Assert.Equal(envelope.Browser, row.Browser);
            Assert.Equal(envelope.Os, row.Os);
            Assert.Equal(e.ShoppingChannel, row.ShoppingChannel);
            using var data = JsonDocument.Parse(row.Data);
            Assert.Equal("42", data.RootElement.GetProperty("variant_id").GetString());
            Assert.Equal(3, data.RootElement.GetProperty("position").GetInt32());
            Assert.Equal("/products/x", data.RootElement.GetProperty("contextual_data").GetProperty("page").GetString());
        }
        using var purchase = JsonDocument.Parse(rows[alana.Event.EventId].Data);
        Assert.Equal(19.99m, purchase.RootElement.GetProperty("revenue").GetDecimal());
        Assert.Equal("EUR", purchase.RootElement.GetProperty("currency").GetString());
        Assert.Equal(["p1", "p2"], purchase.RootElement.GetProperty("product_ids").EnumerateArray().Select(p => p.GetString()!));
        Assert.Equal("X1", purchase.RootElement.GetProperty("metadata").GetProperty("coupon").GetString());

        // The same event queued twice (at-least-once) is stored once, and the rows sit in the day's partition.
        var partition = await check.Database.SqlQueryRaw<string>(
            "SELECT tableoid::regclass::text AS \"Value\" FROM events WHERE event_id = {0}", alana.Event.EventId).SingleAsync();
        Assert.Equal($"events_{alana.ReceivedAt.ToDateTime():yyyyMMdd}", partition);
    }

    [Fact]
    public async Task AWebhookPipelineSwitchedToPostgresWritesItsNextEventsToTheEventsTable()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker();
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1, TimeSpan.FromSeconds(20), "the first event delivered");

        // What Admin's Edit page does: change the kind, then announce the change.
        await using (var db = scenario.CreateDbContext())
        {
            await db.Pipelines.Where(p => p.Id == pipeline.Id).ExecuteUpdateAsync(set => set
                .SetProperty(p => p.Kind, PipelineKinds.Postgres)
                .SetProperty(p => p.Url, (string?)null));
        }
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the announcement reaches the worker asynchronously

        var after = await scenario.EnqueueManyAsync(entries: 2, eventsPerEntry: 3);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Events.CountAsync(e => e.PipelineId == pipeline.Id) == after.Count;
        }, TimeSpan.FromSeconds(20), $"{after.Count} rows in the events table");
        Assert.Single(receiver.AcceptedEventIds);
        await using var check = scenario.CreateDbContext();
        Assert.Equal(0, await check.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id));
    }

    [Fact]
    public async Task NulCharactersAreDroppedSoTheirEventsStillLandInTheEventsTable()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        scenario.StartWorker();

        var events = Enumerable.Range(0, 5).Select(_ => scenario.NewEvent()).ToList();
        var nul = events[2];
        nul.Event.SessionId = "sess\u0000ion";
        nul.Event.ContextualData.Fields["page"] = Google.Protobuf.WellKnownTypes.Value.ForString("/a\u0000b");
        nul.Event.Metadata = new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["k\u0000ey"] = Google.Protobuf.WellKnownTypes.Value.ForString("x") } };
        await scenario.EnqueueAsync(events);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Events.CountAsync(e => e.PipelineId == pipeline.Id) == events.Count;
        }, TimeSpan.FromSeconds(20), $"{events.Count} rows");
        await using var check = scenario.CreateDbContext();
        var row = await check.Events.SingleAsync(e => e.PipelineId == pipeline.Id && e.EventId == nul.Event.EventId);
        Assert.Equal("session", row.SessionId);
        using var data = JsonDocument.Parse(row.Data);
        Assert.Equal("/ab", data.RootElement.GetProperty("contextual_data").GetProperty("page").GetString());
        Assert.Equal("x", data.RootElement.GetProperty("metadata").GetProperty("key").GetString());
        Assert.Equal(0, await check.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id));
    }

    [Fact]
    public async Task AnEventTheTableRejectsIsDeadLetteredAloneWhileTheRestOfItsBatchLands()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddPostgresPipelineAsync();
        // Stands in for any value Postgres refuses as data (22xxx/23xxx) that the writer cannot clean up.
        await using (var db = scenario.CreateDbContext())
        {
            await db.Database.ExecuteSqlRawAsync(
                "ALTER TABLE events ADD CONSTRAINT test_no_poison CHECK (session_id IS DISTINCT FROM 'poison')");
        }
        try
        {
            scenario.StartWorker();
            var events = Enumerable.Range(0, 10).Select(_ => scenario.NewEvent()).ToList();
            events[6].Event.SessionId = "poison";
            await scenario.EnqueueAsync(events);

            await Eventually.WaitAsync(async () =>
            {
                await using var db = scenario.CreateDbContext();
                return await db.DeadLetters.AnyAsync(d => d.PipelineId == pipeline.Id);
            }, TimeSpan.FromSeconds(20), "a dead letter");
            await Task.Delay(500);
            await using var check = scenario.CreateDbContext();
            var dead = await check.DeadLetters.Where(d => d.PipelineId == pipeline.Id).ToListAsync();
            Assert.Equal(events[6].Event.EventId, Assert.Single(dead).EventId);
            Assert.Contains("23514", dead[0].LastError);
            var stored = await check.Events.Where(e => e.PipelineId == pipeline.Id).Select(e => e.EventId).ToListAsync();
            Assert.Equal(events.Where((_, i) => i != 6).Select(e => e.Event.EventId).Order(), stored.Order());
        }
        finally
        {
            await using var db = scenario.CreateDbContext();
            await db.Database.ExecuteSqlRawAsync("ALTER TABLE events DROP CONSTRAINT test_no_poison");
        }
    }
}
