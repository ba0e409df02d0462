using System.Net;
using System.Text.Json;
using Beacon.Core.Catalog;
using Beacon.Core.Data;

namespace Beacon.Admin.Tests;

/// <summary>Deliveries, dead letters, live events and the event-type reference, from rows the worker would write.</summary>
[Collection(AdminCollection.Name)]
public sealed class StoreViewsTests(AdminApp app)
{
    [Fact]
    public async Task TheChartDataPutsEachMinutesCountsInItsSlot()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, name: "Charted");
        var now = await app.Data.AddStatsAsync(pipeline.Id, delivered: 10, failed: 1, minutesAgo: 0);
        var hourAgo = await app.Data.AddStatsAsync(pipeline.Id, delivered: 5, failed: 4, minutesAgo: 60);
        await app.Data.AddStatsAsync(pipeline.Id, delivered: 99, failed: 99, minutesAgo: 60 * 25); // outside the 24 h window

        var json = JsonDocument.Parse(await client.GetStringAsync($"/stores/{store.StoreId}/deliveries?handler=Stats")).RootElement;
        var series = Assert.Single(json.EnumerateArray());
        var delivered = series.GetProperty("delivered").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var failed = series.GetProperty("failed").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        // Slots count from the window's first minute (the clock may have moved on a minute since the inserts).
        var from = series.GetProperty("from").GetDateTimeOffset();
        Assert.Equal(1440, delivered.Length);
        Assert.Equal(10, delivered[(int)(now.Minute - from).TotalMinutes]);
        Assert.Equal(4, failed[(int)(hourAgo.Minute - from).TotalMinutes]);
        Assert.Equal(15, series.GetProperty("totalDelivered").GetInt64());
        Assert.Equal(5, series.GetProperty("totalFailed").GetInt64());
    }

    [Fact]
    public async Task RecentFailuresShowDeadLettersAndRetryingBatchesWithStatusAndAnswer()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var dead = await app.CreateDeadLetterAsync(pipeline, "purchase", 422, "unknown field revenue");
        await app.Data.WithDbAsync(async db =>
        {
            db.RetryBatches.Add(new RetryBatch
            {
                PipelineId = pipeline.Id, StoreId = store.StoreId, Payload = [], EventCount = 17, Attempts = 2,
                NextAttemptAt = DateTimeOffset.UtcNow.AddMinutes(5), LastStatus = 503, LastError = "HTTP 503 Service Unavailable",
            });
            return await db.SaveChangesAsync();
        });

        var html = await client.GetStringAsync($"/stores/{store.StoreId}/deliveries");
        Assert.Contains(dead.EventId, html);
        Assert.Contains("unknown field revenue", html);
        Assert.Contains("422", html);
        Assert.Contains("17 events", html);
        Assert.Contains("HTTP 503 Service Unavailable", html);
    }

    [Fact]
    public async Task TheDeadLetterPageFiltersAndReplaysASelection()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var purchase = await app.CreateDeadLetterAsync(pipeline, "purchase");
        var view = await app.CreateDeadLetterAsync(pipeline, "page_view");
        var path = $"/stores/{store.StoreId}/pipelines/{pipeline.Id}/dead-letters";

        var filtered = await client.GetStringAsync($"{path}?eventType=purchase");
        Assert.Contains(purchase.EventId, filtered);
        Assert.DoesNotContain(view.EventId, filtered);

        var replayed = await client.PostFormAsync($"{path}?handler=ReplaySelected", [new("ids", purchase.Id.ToString()), new("ids", view.Id.ToString())], path);
        Assert.Equal(HttpStatusCode.Redirect, replayed.StatusCode);
        var after = await client.GetStringAsync(path);
        Assert.Contains("Replayed 2 dead letters.", after);
        Assert.DoesNotContain(purchase.EventId, after);
    }

    [Fact]
    public async Task DiscardingARangeDeletesOnlyThatRange()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var old = await app.CreateDeadLetterAsync(pipeline, createdAt: new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero));
        var recent = await app.CreateDeadLetterAsync(pipeline);
        var path = $"/stores/{store.StoreId}/pipelines/{pipeline.Id}/dead-letters";

        await client.PostFormAsync($"{path}?handler=DiscardRange", [new("rangeFrom", "2024-05-01T00:00"), new("rangeTo", "2024-05-02T00:00")], path);
        var html = await client.GetStringAsync(path);
        Assert.DoesNotContain(old.EventId, html);
        Assert.Contains(recent.EventId, html);
    }

    [Fact]
    public async Task LiveEventsAreTheStoresNewestStoredEvents()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var other = await app.Backends.CreateStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres, url: null);
        var older = await app.Data.AddStoredEventAsync(store.StoreId, pipeline.Id, "page_view", DateTimeOffset.UtcNow.AddMinutes(-2));
        var newer = await app.Data.AddStoredEventAsync(store.StoreId, pipeline.Id, "purchase", DateTimeOffset.UtcNow);
        var foreign = await app.Data.AddStoredEventAsync(other.StoreId, pipeline.Id, "page_view");

        var rows = JsonDocument.Parse(await client.GetStringAsync($"/stores/{store.StoreId}/events?handler=Rows")).RootElement
            .EnumerateArray().Select(r => r.GetProperty("eventId").GetString()).ToList();
        Assert.Equal([newer, older], rows);
        Assert.DoesNotContain(foreign, rows);
        Assert.Contains(newer, await client.GetStringAsync($"/stores/{store.StoreId}/events"));
    }

    [Fact]
    public async Task TheEventTypeReferenceListsEveryCatalogTypeWithExamples()
    {
        var (_, _, client) = await app.MerchantWithStoreAsync();
        var html = WebUtility.HtmlDecode(await client.GetStringAsync("/event-types"));
        foreach (var type in EventCatalog.All)
        {
            Assert.Contains($"id=\"{type.Family.ToString().ToLowerInvariant()}-{type.Name}\"", html);
        }
        Assert.Contains("navigator.sendBeacon(", html);
        Assert.Contains("beacon.v1.EventIngest/Send", html);
        Assert.Contains("X-Storefront-Access-Token: YOUR_TOKEN", html);
        Assert.Contains("x-api-key: YOUR_TOKEN", html);
        Assert.Contains("\"collection_handle\":\"summer-collection\"", html);
    }

    [Fact]
    public async Task EventsIngestionDroppedAreShownWithTheirReason()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        // As Ingestion.Api's DropLog writes them.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        var db = redis.GetDatabase();
        await db.HashIncrementAsync($"beacon:drops:{store.StoreId:D}:counts", "product_view|missing_field", 3);
        await db.HashIncrementAsync($"beacon:drops:{store.StoreId:D}:counts", "unknown|unknown_type", 1);
        await db.ListLeftPushAsync($"beacon:drops:{store.StoreId:D}",
            """{"at":"2026-01-15T10:00:00.0000000+00:00","source":"beacon","index":2,"event_type":"product_view","code":"missing_field","reason":"missing required field 'product_id'"}""");

        var html = WebUtility.HtmlDecode(await client.GetStringAsync($"/stores/{store.StoreId}/events/dropped"));
        Assert.Contains("missing required field 'product_id'", html);
        Assert.Contains("<td>3</td>", html);
        Assert.Contains("unknown_type", html);

        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var report = JsonDocument.Parse(await api.GetStringAsync($"/api/admin/v1/stores/{store.StoreId}/dropped-events")).RootElement;
        var first = report.GetProperty("counts")[0];
        Assert.Equal("product_view", first.GetProperty("eventType").GetString());
        Assert.Equal(3, first.GetProperty("count").GetInt64());
        Assert.Equal(2, report.GetProperty("recent")[0].GetProperty("index").GetInt32());
    }
}
