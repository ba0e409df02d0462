using System.Text.Json;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
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
}
