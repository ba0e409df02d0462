using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Drops;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf.WellKnownTypes;
using StackExchange.Redis;

namespace Beacon.Admin.Tests;

/// <summary>
/// The per-event trace, replays and the live deliveries view, against a real worker process (its own Redis database,
/// so it reads only what these tests queue) delivering to a real HTTP receiver.
/// </summary>
[Collection(AdminCollection.Name)]
public sealed class EventTraceTests(AdminApp app)
{
    private static int _nextDatabase = 10;

    [Fact]
    public async Task TheTraceOfAnEventWhoseFirstAttemptGot500ShowsThatAttemptAndTheRetryThatGot200()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusOf = n => n == 1 ? 500 : 200;
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url, name: "Warehouse hook");
        var (worker, queue) = await StartWorkerAsync();
        await using var running = worker;

        var sent = NewEvent(store.StoreId, "ev-500-then-200");
        await EnqueueAsync(queue, store.StoreId, [sent]);

        var trace = await WaitForTraceAsync(api, store.StoreId, "ev-500-then-200", t => Attempts(t).Count == 2);
        Assert.Equal("ev-500-then-200", trace.GetProperty("event_id").GetString());
        Assert.Equal("accepted", trace.GetProperty("status").GetString());
        Assert.False(trace.TryGetProperty("reason", out _));
        Assert.Equal("beacon", trace.GetProperty("source").GetString());
        Assert.Equal(sent.ReceivedAt.ToDateTimeOffset(), trace.GetProperty("received_at").GetDateTimeOffset());
        var enrichment = trace.GetProperty("enrichment");
        Assert.Equal("US", enrichment.GetProperty("geo_country").GetString());
        Assert.Equal("mobile", enrichment.GetProperty("device_type").GetString());
        Assert.Equal("Safari", enrichment.GetProperty("browser").GetString());
        var delivery = trace.GetProperty("deliveries").EnumerateArray().Single();
        Assert.Equal(pipeline.Id, delivery.GetProperty("pipeline_id").GetGuid());
        Assert.Equal("Warehouse hook", delivery.GetProperty("pipeline_name").GetString());
        var attempts = Attempts(trace);
        Assert.Equal([500, 200], attempts.Select(a => a.GetProperty("status").GetInt32()));
        Assert.Equal(["retrying", "delivered"], attempts.Select(a => a.GetProperty("outcome").GetString()));
        Assert.Equal("HTTP 500 Internal Server Error", attempts[0].GetProperty("error").GetString());
        Assert.False(attempts[1].TryGetProperty("error", out _));
        Assert.True(attempts[0].GetProperty("at").GetDateTimeOffset() < attempts[1].GetProperty("at").GetDateTimeOffset());
        Assert.All(attempts, a => Assert.True(a.GetProperty("duration_ms").GetInt32() >= 0));
        Assert.Equal(2, receiver.Requests.Count);

        // The page with the search box shows the same.
        var html = WebUtility.HtmlDecode(await client.GetStringAsync($"/stores/{store.StoreId}/events/trace?id=ev-500-then-200"));
        Assert.Contains("Warehouse hook", html);
        Assert.Contains("HTTP 500 Internal Server Error", html);
        Assert.Contains("<td>200</td>", html);
        // ...and the pipeline's live view lists both attempts, newest first.
        var live = WebUtility.HtmlDecode(await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/deliveries"));
        Assert.True(live.IndexOf("<td>200</td>", StringComparison.Ordinal) < live.IndexOf("<td>500</td>", StringComparison.Ordinal));
        Assert.Contains("ev-500-then-200", live);
        var recent = await api.GetFromJsonAsync<JsonElement>($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/attempts");
        Assert.Equal([200, 500], recent.EnumerateArray().Select(a => a.GetProperty("status").GetInt32()));
        Assert.Equal(receiver.Requests.First().Headers["webhook-id"], recent[0].GetProperty("webhookId").GetString());
    }

    [Fact]
    public async Task ADroppedEventShowsTheReasonIngestionGave()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        // As Ingestion.Api's DropLog writes it (Ingestion.Api.Tests: DroppedEventsAreFoundByTheirEventId).
        await using var redis = await ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        await redis.GetDatabase().HashSetAsync(DropLogKeys.ByEventId(store.StoreId, DateOnly.FromDateTime(DateTime.UtcNow.AddDays(-1))), "ev-bad",
            """{"at":"2026-01-15T10:00:00.0000000+00:00","source":"beacon","index":1,"event_type":"product_view","code":"missing_field","reason":"missing required field 'product_id'","event_id":"ev-bad"}""");

        var trace = await api.GetFromJsonAsync<JsonElement>($"/api/admin/v1/stores/{store.StoreId}/events/ev-bad");
        Assert.Equal("dropped", trace.GetProperty("status").GetString());
        Assert.Equal("missing required field 'product_id'", trace.GetProperty("reason").GetString());
        Assert.Equal("beacon", trace.GetProperty("source").GetString());
        Assert.Empty(trace.GetProperty("deliveries").EnumerateArray());
        Assert.Contains("missing required field 'product_id'",
            WebUtility.HtmlDecode(await client.GetStringAsync($"/stores/{store.StoreId}/events/trace?id=ev-bad")));

        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/admin/v1/stores/{store.StoreId}/events/never-seen")).StatusCode);
        // Another store's trace is not this merchant's to read.
        var other = await app.Backends.CreateStoreAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync($"/api/admin/v1/stores/{other.StoreId}/events/ev-bad")).StatusCode);
    }

    [Fact]
    public async Task AWindowIsReplayedIntoAPipelineCreatedAfterwardsWithProgressVisible()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var (worker, queue) = await StartWorkerAsync();
        await using var running = worker;

        var before = NewEvent(store.StoreId, "ev-before", DateTimeOffset.UtcNow.AddMinutes(-30));
        var inWindow = Enumerable.Range(0, 6).Select(i => NewEvent(store.StoreId, $"ev-window-{i}", DateTimeOffset.UtcNow.AddMinutes(-20 + i),
            i == 5 ? "add_to_cart" : "product_view")).ToList();
        var after = NewEvent(store.StoreId, "ev-after", DateTimeOffset.UtcNow.AddMinutes(-5));
        await EnqueueAsync(queue, store.StoreId, [before, .. inWindow, after]);
        // The store had no pipeline when the worker routed (and acked) the entry: the events are only in the archive.
        await WaitForTraceAsync(api, store.StoreId, "ev-after", t => t.GetProperty("status").GetString() == "accepted");
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(queue))
        {
            var stream = QueueKeys.Stream(QueueKeys.PartitionOf(store.StoreId, 1));
            var ackDeadline = DateTime.UtcNow.AddSeconds(20);
            while ((await connection.GetDatabase().StreamPendingAsync(stream, QueueKeys.ConsumerGroup)).PendingMessageCount > 0)
            {
                Assert.True(DateTime.UtcNow < ackDeadline, "the entry was not acked");
                await Task.Delay(100);
            }
        }

        await using var receiver = await WebhookReceiver.StartAsync();
        // Created after the window, taking product_view only.
        var pipelineId = (await app.CreatePipelineAsync(store.StoreId, url: receiver.Url, name: "Backfill")).Id;
        await app.WithDbAsync(async db =>
        {
            var p = await db.Pipelines.FindAsync(pipelineId);
            p!.EventTypes = ["product_view"];
            return await db.SaveChangesAsync();
        });

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipelineId}/replay",
            new { from = DateTimeOffset.UtcNow.AddMinutes(-25), to = DateTimeOffset.UtcNow.AddMinutes(-10) });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        Assert.Equal($"/api/admin/v1/stores/{store.StoreId}/replays/{id}", response.Headers.Location!.OriginalString);

        JsonElement replay = default;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((replay = await api.GetFromJsonAsync<JsonElement>(response.Headers.Location)).GetProperty("status").GetString() != "completed")
        {
            Assert.True(DateTime.UtcNow < deadline, $"replay not completed: {replay}");
            await Task.Delay(200);
        }
        Assert.Equal(6, replay.GetProperty("total").GetInt64());
        Assert.Equal(5, replay.GetProperty("sent").GetInt64());
        Assert.Equal(1, replay.GetProperty("skipped").GetInt64());
        var delivered = receiver.Requests.SelectMany(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("events").EnumerateArray())
            .Select(e => e.GetProperty("event_id").GetString()).Order().ToList();
        Assert.Equal(inWindow.Take(5).Select(e => e.Event.EventId).Order(), delivered);

        var page = WebUtility.HtmlDecode(await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{pipelineId}/replay"));
        Assert.Contains("completed", page);
        Assert.Contains("100% (6 of 6)", page);
        // The replayed events' traces show the replay's delivery.
        var trace = await WaitForTraceAsync(api, store.StoreId, "ev-window-0", t => Attempts(t).Count == 1);
        Assert.Equal(200, Attempts(trace)[0].GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task APipelineIsTestedWithRealArchivedEventsShowingTheSignedRequest()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var (worker, queue) = await StartWorkerAsync();
        await using var running = worker;
        await EnqueueAsync(queue, store.StoreId, [NewEvent(store.StoreId, "ev-real-1"), NewEvent(store.StoreId, "ev-real-2", eventType: "add_to_cart")]);
        await WaitForTraceAsync(api, store.StoreId, "ev-real-2", t => t.GetProperty("status").GetString() == "accepted");
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Status = 202;
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);

        var result = await (await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/test",
            new { eventIds = new[] { "ev-real-2", "ev-real-1", "not-archived" } })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(result.GetProperty("succeeded").GetBoolean());
        Assert.Equal(202, result.GetProperty("statusCode").GetInt32());
        var request = result.GetProperty("request");
        Assert.Equal(receiver.Url, request.GetProperty("url").GetString());
        Assert.Equal(["ev-real-2", "ev-real-1"], request.GetProperty("eventIds").EnumerateArray().Select(e => e.GetString()));
        var received = Assert.Single(receiver.Requests);
        var headers = request.GetProperty("headers");
        foreach (var name in new[] { "webhook-id", "webhook-timestamp", "webhook-signature" })
        {
            Assert.Equal(received.Headers[name], headers.GetProperty(name).GetString());
        }
        Assert.Equal(System.Text.Encoding.UTF8.GetString(received.Body), request.GetProperty("body").GetString());
        Assert.Contains("\"geo_city\":\"austin\"", request.GetProperty("body").GetString());
        // Still never the destination's answer.
        Assert.DoesNotContain("test receiver", result.GetRawText());

        // The page lists the recent events to pick, and shows the request it sent.
        var edit = $"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit";
        Assert.Contains("ev-real-1", await client.GetStringAsync(edit));
        var token = await client.AntiforgeryTokenAsync(edit);
        var response = await client.PostAsync($"{edit}?handler=TestReal", new FormUrlEncodedContent(
        [
            new("__RequestVerificationToken", token), new("eventIds", "ev-real-1"), new("pastedIds", "ev-real-2"),
        ]));
        var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Contains("Test event: delivered", html);
        Assert.Contains("webhook-signature: v1,", html);
        Assert.Equal(2, receiver.Requests.Count);
        Assert.Contains("ev-real-2", System.Text.Encoding.UTF8.GetString(receiver.Requests.Last().Body));
    }

    [Fact]
    public async Task AReplayNeedsAWindowAndAnExistingPipeline()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var url = $"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/replay";

        Assert.Equal(HttpStatusCode.BadRequest, (await api.PostAsJsonAsync(url, new { from = DateTimeOffset.UtcNow })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest,
            (await api.PostAsJsonAsync(url, new { from = DateTimeOffset.UtcNow, to = DateTimeOffset.UtcNow.AddHours(-1) })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{Guid.NewGuid()}/replay",
            new { from = DateTimeOffset.UtcNow.AddHours(-1), to = DateTimeOffset.UtcNow })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/admin/v1/stores/{store.StoreId}/replays/{Guid.NewGuid()}")).StatusCode);
    }

    private static List<JsonElement> Attempts(JsonElement trace) =>
        trace.GetProperty("deliveries").EnumerateArray().SelectMany(d => d.GetProperty("attempts").EnumerateArray()).ToList();

    private static async Task<JsonElement> WaitForTraceAsync(HttpClient api, Guid storeId, string eventId, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var response = await api.GetAsync($"/api/admin/v1/stores/{storeId}/events/{eventId}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var trace = await response.Content.ReadFromJsonAsync<JsonElement>();
                if (done(trace))
                {
                    return trace;
                }
            }
            Assert.True(DateTime.UtcNow < deadline, $"trace of {eventId}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(200);
        }
    }

    private async Task<(WorkerProcess Worker, string Redis)> StartWorkerAsync()
    {
        var database = Interlocked.Increment(ref _nextDatabase);
        var redis = app.Backends.RedisConnectionString + $",defaultDatabase={database}";
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis))
        {
            await connection.GetServers()[0].FlushDatabaseAsync(database);
        }
        var settings = new Dictionary<string, string?>(app.Backends.ServiceConfiguration)
        {
            ["ConnectionStrings:redis"] = redis,
            ["Delivery:AllowPrivateDestinations"] = "true",
            ["Worker:IdlePollInterval"] = "00:00:00.020",
            ["Worker:WebhookLinger"] = "00:00:00.050",
            ["Worker:RetryPollInterval"] = "00:00:00.100",
            ["Worker:RetrySchedule:0"] = "00:00:00.500",
            ["Worker:AttemptLogFlushInterval"] = "00:00:00.100",
            ["Worker:ReplayPollInterval"] = "00:00:00.100",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        return (await WorkerProcess.StartAsync(settings), redis);
    }

    private static EnrichedEvent NewEvent(Guid storeId, string eventId, DateTimeOffset? receivedAt = null, string eventType = "product_view") => new()
    {
        Event = new Event
        {
            EventId = eventId,
            EventType = eventType,
            Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(-2)),
            SessionId = "sess-1",
            ProductId = "1234567",
            ShoppingChannel = "web",
        },
        StoreId = storeId.ToString(),
        Source = "beacon",
        ReceivedAt = Timestamp.FromDateTimeOffset(receivedAt ?? DateTimeOffset.UtcNow),
        GeoCountry = "US",
        GeoCity = "austin",
        DeviceType = "mobile",
        Browser = "Safari",
        Os = "iOS",
    };

    private static async Task EnqueueAsync(string redis, Guid storeId, IReadOnlyList<EnrichedEvent> events)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        await connection.GetDatabase().StreamAddAsync(QueueKeys.Stream(QueueKeys.PartitionOf(storeId, 1)), QueueEntries.Fields(events));
    }
}
