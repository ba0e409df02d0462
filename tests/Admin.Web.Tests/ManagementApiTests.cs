using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed class ManagementApiTests(AdminApp app)
{
    [Fact]
    public async Task PostingATokenAnswers201WithTheTokenOnceInCamelCase()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/tokens",
            new { name = "Automation", allowedOrigins = new[] { "https://shop.example" }, rateLimitPerMinute = 120 });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("token").GetString()!;
        var id = body.GetProperty("id").GetGuid();
        Assert.Equal(120, body.GetProperty("rateLimitPerMinute").GetInt32());
        Assert.Equal($"/api/admin/v1/stores/{store.StoreId}/tokens/{id}", response.Headers.Location!.OriginalString);

        await using var db = app.Backends.CreateDbContext();
        Assert.Equal(TokenHasher.Hash(token), (await db.AccessTokens.SingleAsync(t => t.Id == id)).TokenHash);

        var one = await api.GetFromJsonAsync<JsonElement>(response.Headers.Location);
        Assert.Equal("Automation", one.GetProperty("name").GetString());
        Assert.False(one.TryGetProperty("token", out _));

        var list = await api.GetStringAsync($"/api/admin/v1/stores/{store.StoreId}/tokens");
        Assert.Contains(id.ToString(), list);
        Assert.DoesNotContain(token, list);
        Assert.Contains("\"displayPrefix\"", list);
    }

    [Fact]
    public async Task RevokingATokenThroughTheApiAnnouncesIt()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);

        var response = await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/tokens/{store.TokenId}/revoke", null);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await channel.WaitForAsync(new ConfigChange.Token(TokenHasher.Hash(store.Token)), TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.NotFound, (await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/tokens/{Guid.NewGuid()}/revoke", null)).StatusCode);
    }

    [Fact]
    public async Task PostingAPipelineAnswers201WithItsSecretWhichLaterReadsNeverShow()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "Hook", kind = "webhook", url = "https://hooks.example.com/x", eventTypes = new[] { "purchase" }, enabled = true });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        var secret = created.GetProperty("secret").GetString()!;
        var id = created.GetProperty("id").GetGuid();
        Assert.StartsWith("whsec_", secret);
        Assert.Equal("webhook", created.GetProperty("kind").GetString());
        Assert.Equal(["purchase"], created.GetProperty("eventTypes").EnumerateArray().Select(e => e.GetString()));

        var read = await api.GetStringAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{id}");
        Assert.DoesNotContain(secret, read);
        Assert.DoesNotContain("secret\"", read);
        Assert.DoesNotContain(secret, await api.GetStringAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines"));

        var rotated = await (await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{id}/rotate-secret", null))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.NotEqual(secret, rotated.GetProperty("secret").GetString());
    }

    [Fact]
    public async Task InvalidPipelinesGetProblemDetailsNamingEachField()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "", kind = "ftp", eventTypes = new[] { "not_a_type" } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["eventTypes", "kind", "name"], errors.Order());
    }

    [Fact]
    public async Task DeadLettersAreListedFilteredReplayedAndDiscarded()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var old = await app.CreateDeadLetterAsync(pipeline, "purchase", 410, createdAt: DateTimeOffset.UtcNow.AddDays(-2));
        var one = await app.CreateDeadLetterAsync(pipeline, "page_view", 400, "bad payload");
        var two = await app.CreateDeadLetterAsync(pipeline, "page_view", 404);
        var root = $"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/dead-letters";

        var all = await api.GetFromJsonAsync<List<JsonElement>>(root);
        Assert.Equal(3, all!.Count);
        var filtered = await api.GetFromJsonAsync<List<JsonElement>>($"{root}?eventType=page_view&status=400");
        Assert.Equal(one.Id, Assert.Single(filtered!).GetProperty("id").GetInt64());
        Assert.Equal("bad payload", filtered![0].GetProperty("responseExcerpt").GetString());

        var replay = await api.PostAsJsonAsync($"{root}/replay", new { ids = new[] { one.Id } });
        Assert.Equal(1, (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("count").GetInt32());
        var range = await api.PostAsJsonAsync($"{root}/replay", new { from = DateTimeOffset.UtcNow.AddDays(-3), to = DateTimeOffset.UtcNow.AddDays(-1) });
        Assert.Equal(1, (await range.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("count").GetInt32());
        var discard = await api.PostAsJsonAsync($"{root}/discard", new { ids = new[] { two.Id } });
        Assert.Equal(1, (await discard.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("count").GetInt32());

        await using var db = app.Backends.CreateDbContext();
        Assert.False(await db.DeadLetters.AnyAsync(d => d.PipelineId == pipeline.Id));
        Assert.Equal(2, await db.RetryBatches.Where(r => r.PipelineId == pipeline.Id).SumAsync(r => r.EventCount));

        var empty = await api.PostAsJsonAsync($"{root}/replay", new { });
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
    }

    [Fact]
    public async Task QuarantinedEntriesAreListedWithTheirRawBytesReplayedAndDiscarded()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var replayed = await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var discarded = await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var foreign = await app.Data.CreateQuarantinedEntryAsync((await app.Backends.CreateStoreAsync()).StoreId);
        var root = $"/api/admin/v1/stores/{store.StoreId}/quarantine";

        var listed = (await api.GetFromJsonAsync<List<JsonElement>>(root))!;
        Assert.Equal([discarded.Id, replayed.Id], listed.Select(e => e.GetProperty("id").GetInt64()).Order().Reverse());
        var fields = listed.Single(e => e.GetProperty("id").GetInt64() == replayed.Id).GetProperty("fields");
        Assert.Equal("b", fields[0].GetProperty("name").GetString());
        Assert.Equal(replayed.FieldValues[0], fields[0].GetProperty("value").GetBytesFromBase64());

        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync($"{root}/{replayed.Id}/replay", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"{root}/{discarded.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync($"{root}/{foreign.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.PostAsync($"{root}/{replayed.Id}/replay", null)).StatusCode);

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        Assert.Single(await redis.GetDatabase().StreamRangeAsync(replayed.Stream));
        await using var db = app.Backends.CreateDbContext();
        Assert.Equal([foreign.Id], await db.Quarantine.Where(q => q.Id == replayed.Id || q.Id == discarded.Id || q.Id == foreign.Id).Select(q => q.Id).ToListAsync());
    }

    [Fact]
    public async Task TheTestEndpointSendsASignedEventAndReportsStatusTimeAndTheStartOfATextAnswer()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.AnswerContentType = "application/json; charset=utf-8";
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);

        var result = await (await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/test", null))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(result.GetProperty("succeeded").GetBoolean());
        Assert.Equal(200, result.GetProperty("statusCode").GetInt32());
        Assert.True(result.GetProperty("latencyMs").GetDouble() > 0);
        var answer = result.GetProperty("response");
        Assert.Equal("application/json", answer.GetProperty("contentType").GetString());
        Assert.Equal(receiver.Answer, answer.GetProperty("bodyExcerpt").GetString());
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task APipelineIsTestedWithOnePastedEventCheckedAsIngestionChecksIt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);
        var url = $"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/test";

        // The /beacon shape: Layers names, a product id sent as a number (carried as its digits), a free object.
        var sent = await api.PostAsync(url, JsonContent.Create(JsonDocument.Parse("""
            {"event": {"event_id": "pasted-1", "event_type": "product_view", "timestamp": "2026-12-01T10:00:00Z",
                       "session_id": "s1", "product_id": 8000000001, "contextual_data": {"from": "paste"}, "unknown": 1}}
            """).RootElement));
        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        var result = await sent.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(result.GetProperty("succeeded").GetBoolean());
        Assert.Equal(["pasted-1"], result.GetProperty("request").GetProperty("eventIds").EnumerateArray().Select(e => e.GetString()));
        var body = System.Text.Encoding.UTF8.GetString(Assert.Single(receiver.Requests).Body);
        Assert.Contains("\"event_id\":\"pasted-1\"", body);
        Assert.Contains("\"product_id\":\"8000000001\"", body);
        Assert.Contains("\"from\":\"paste\"", body);

        // What ingestion would drop is refused with ingestion's own reason, and nothing is sent.
        foreach (var (pasted, reason) in new[]
                 {
                     ("""{"event_type": "product_view", "timestamp": "2026-12-01T10:00:00Z", "session_id": "s1"}""", "missing required field 'product_id'"),
                     ("""{"event_type": "product_click", "timestamp": "2026-12-01T10:00:00Z", "session_id": "s1", "product_id": "p", "position": "x"}""",
                         "field 'position' must be a positive whole number"),
                     ("""{"event_type": "levitate", "timestamp": "2026-12-01T10:00:00Z", "session_id": "s1"}""", "unknown event_type 'levitate'"),
                     ("""[{"event_type": "page_view"}]""", "The event must be a JSON object, not an array."),
                 })
        {
            var refused = await api.PostAsync(url, new StringContent($$"""{"event": {{pasted}}}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(reason, problem.GetProperty("errors").GetProperty("event")[0].GetString());
        }
        Assert.Single(receiver.Requests);

        // The page: the same checks, the reason shown with the JSON kept for a fix, then the request and the answer.
        var edit = $"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit";
        var invalid = await client.PostFormAsync($"{edit}?handler=TestPasted", new() { ["pastedEvent"] = "{\"event_type\": \"page_view\"," });
        var html = WebUtility.HtmlDecode(await invalid.Content.ReadAsStringAsync());
        Assert.Contains("Not sent: Not valid JSON", html);
        Assert.Contains("{\"event_type\": \"page_view\",</textarea>", html);
        var valid = await client.PostFormAsync($"{edit}?handler=TestPasted", new()
        {
            ["pastedEvent"] = """{"event_type": "page_view", "timestamp": "2026-12-01T10:00:00Z", "session_id": "s2"}""",
        });
        html = WebUtility.HtmlDecode(await valid.Content.ReadAsStringAsync());
        Assert.Contains("Test event: delivered", html);
        Assert.Contains("\"session_id\":\"s2\"", html);
        Assert.Equal(2, receiver.Requests.Count);
    }

    [Fact]
    public async Task TheBootstrapKeyIsAnOperatorsKey()
    {
        var store = await app.Backends.CreateStoreAsync();
        var api = app.ApiClient(AdminApp.BootstrapApiKey);
        var stores = await api.GetFromJsonAsync<List<JsonElement>>("/api/admin/v1/stores");
        Assert.Contains(stores!, s => s.GetProperty("id").GetGuid() == store.StoreId);

        var created = await api.PostAsJsonAsync("/api/admin/v1/stores", new { name = "Made by automation" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
    }

    [Fact]
    public async Task DeliveriesOfAPipelineAreServedPerMinute()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var stat = await app.Data.AddStatsAsync(pipeline.Id, delivered: 7, failed: 2, minutesAgo: 3);

        var series = await api.GetFromJsonAsync<JsonElement>($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/deliveries");
        Assert.Equal(1440, series.GetProperty("minutes").GetInt32());
        var delivered = series.GetProperty("delivered").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(7, delivered[(int)(stat.Minute - series.GetProperty("from").GetDateTimeOffset()).TotalMinutes]);
        Assert.Equal(7, series.GetProperty("totalDelivered").GetInt64());
        Assert.Equal(2, series.GetProperty("totalFailed").GetInt64());
    }

    [Fact]
    public async Task TheApiPublishesItsOpenApiDocument()
    {
        var document = await app.Anonymous().GetStringAsync("/openapi/v1.json");
        Assert.Contains("\"/api/admin/v1/stores/{storeId}/pipelines\"", document);
        Assert.Contains("\"/api/admin/v1/stores/{storeId}/pipelines/{pipelineId}/dead-letters/replay\"", document);
        Assert.DoesNotContain("/account/login", document);
    }
}
