using System.Net;
using System.Text.Json;
using Beacon.Core.Drops;
using Beacon.TestHost;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>The <c>POST /beacon</c> contract of DESIGN §3, row by row.</summary>
public sealed class BeaconApiTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    private readonly HttpClient _client = host.CreateClient();

    private Task<HttpResponseMessage> PostAsync(string body, string? headerToken = null, string query = "", string mediaType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/beacon" + query) { Content = Json(body, mediaType) };
        if (headerToken is not null)
        {
            request.Headers.Add("X-Storefront-Access-Token", headerToken);
        }
        return _client.SendAsync(request);
    }

    [Fact]
    public async Task TheSeedPayloadWithTheTokenInTheHeaderReturns201NullAndQueuesAllThreeEvents()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(SeedPayload, store.Token);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("null", await response.Content.ReadAsStringAsync());
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["product_click", "collection_view", "block_view"], queued.Select(e => e.Event.EventType));
        Assert.Equal(1, await host.QueuedEntriesAsync(store.StoreId));
        var click = queued[0];
        Assert.Equal("7003338965178", click.Event.ProductId);
        Assert.Equal(3u, click.Event.Position);
        Assert.Equal("beacon", click.Source);
        Assert.Equal(new DateTime(2025, 1, 15, 14, 30, 0, DateTimeKind.Utc), click.Event.Timestamp.ToDateTime());
        Assert.True(Guid.TryParse(click.Event.EventId, out var id) && id.Version == 7, "a missing event_id gets a UUIDv7");
        Assert.NotNull(click.Event.ContextualData);
        Assert.Equal("web", click.Event.ShoppingChannel);
        Assert.True((DateTime.UtcNow - click.ReceivedAt.ToDateTime()).Duration() < TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task TheSeedPayloadWithTheTokenInTheQueryReturns201Null()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(SeedPayload, query: $"?token={Uri.EscapeDataString(store.Token)}");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("null", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, (await host.QueuedEventsAsync(store.StoreId)).Count);
    }

    [Fact]
    public async Task AValidHeaderTokenWinsOverABadQueryToken()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(SeedPayload, store.Token, "?token=bk_test_not-a-real-token");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, (await host.QueuedEventsAsync(store.StoreId)).Count);
    }

    [Fact]
    public async Task ABadHeaderTokenWinsOverAValidQueryTokenAndIsRefused()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(SeedPayload, "bk_test_not-a-real-token", $"?token={Uri.EscapeDataString(store.Token)}");

        await AssertUnauthenticated(response);
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("bk_test_unknown")]
    public async Task AMissingOrUnknownTokenIsRefusedWith401(string? token)
    {
        var response = await PostAsync(SeedPayload, token);

        await AssertUnauthenticated(response);
    }

    [Fact]
    public async Task ARevokedTokenIsRefusedWith401()
    {
        var store = await host.CreateStoreAsync();
        await using (var db = host.Backends.CreateDbContext())
        {
            var token = await db.AccessTokens.FindAsync(store.TokenId);
            token!.Revoked = true;
            await db.SaveChangesAsync();
        }

        await AssertUnauthenticated(await PostAsync(SeedPayload, store.Token));
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"events\":[{\"event_type\":\"page_view\"", "not valid JSON")]
    [InlineData("{}", "no \"events\"")]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("{\"events\":{}}", "must be an array")]
    [InlineData("{\"events\":\"page_view\"}", "must be an array")]
    [InlineData("{\"events\":[]}", "is empty")]
    [InlineData("", "body is empty")]
    [InlineData("{\"events\":[]} trailing", "not valid JSON")]
    public async Task TopLevelProblemsAreRefusedWith422AndAMessage(string body, string expected)
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(body, store.Token);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var errors = await ErrorsOf(response);
        Assert.Contains(errors, e => e.Contains(expected, StringComparison.OrdinalIgnoreCase));
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
    }

    [Fact]
    public async Task MoreThanOneHundredEventsAreRefusedWith422AndNothingIsQueued()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(Enumerable.Repeat(LayersEvent(), 101).ToArray());

        var response = await PostAsync(body, store.Token);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(await ErrorsOf(response), e => e.Contains("101 events") && e.Contains("at most 100"));
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
    }

    [Fact]
    public async Task ExactlyOneHundredEventsAreAccepted()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(Batch(Enumerable.Repeat(LayersEvent(), 100).ToArray()), store.Token);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(100, (await host.QueuedEventsAsync(store.StoreId)).Count);
        Assert.Equal(1, await host.QueuedEntriesAsync(store.StoreId));
    }

    [Fact]
    public async Task ABodyOverTheLimitIsRefusedWith413()
    {
        var store = await host.CreateStoreAsync();
        var huge = new string('x', 1024 * 1024);
        var body = Batch(LayersEvent("search", $"\"query\":\"{huge}\""));

        var response = await PostAsync(body, store.Token);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
    }

    [Fact]
    public async Task AChunkedBodyWithoutContentLengthIsCutOffAtTheLimitWith413()
    {
        var store = await host.CreateStoreAsync();
        var body = System.Text.Encoding.UTF8.GetBytes(Batch(LayersEvent("search", $"\"query\":\"{new string('x', 2 * 1024 * 1024)}\"")));
        // The in-memory server buffers request bodies; only a real socket carries a chunked upload.
        await using var factory = new Beacon.TestHost.ServiceFactory<Program>(host.Backends);
        var port = Beacon.TestHost.FreePort.Next();
        factory.UseKestrel(port);
        factory.StartServer();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var request = new HttpRequestMessage(HttpMethod.Post, "/beacon") { Content = new UnknownLengthContent(body) };
        request.Headers.Add("X-Storefront-Access-Token", store.Token);

        var response = await client.SendAsync(request);

        Assert.True(request.Headers.TransferEncodingChunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task ABodyJustUnderTheLimitIsRead()
    {
        var store = await host.CreateStoreAsync();
        var padding = new string('x', 1000 * 1000);
        var body = Batch(LayersEvent("page_view", $"\"contextual_data\":{{\"padding\":\"{padding}\"}}"));

        var response = await PostAsync(body, store.Token);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/octet-stream")]
    public async Task TheBodyIsReadAsJsonWhateverTheContentType(string mediaType)
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(SeedPayload, store.Token, mediaType: mediaType);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, (await host.QueuedEventsAsync(store.StoreId)).Count);
    }

    [Fact]
    public async Task InvalidEventsAreDroppedOneByOneWhileTheRestReachTheStream()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(
            LayersEvent("product_view", "\"product_id\":\"p-1\",\"event_id\":\"keep-1\""),
            LayersEvent("product_view", "\"event_id\":\"drop-missing-product\""),
            LayersEvent("no_such_type", "\"event_id\":\"drop-unknown-type\""),
            "\"just a string\"",
            LayersEvent("product_click", "\"product_id\":\"p-2\",\"position\":\"first\",\"event_id\":\"drop-wrong-type\""),
            """{"event_type":"search","query":"shirt","session_id":"s"}""",
            LayersEvent("search", "\"query\":\"linen\",\"event_id\":\"keep-2\""));

        var response = await PostAsync(body, store.Token);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["keep-1", "keep-2"], queued.Select(e => e.Event.EventId));
    }

    [Fact]
    public async Task AnEventNestedTooDeeplyForTheQueueIsDroppedAndTheRestOfItsBatchIsStoredReadably()
    {
        var store = await host.CreateStoreAsync();
        static string Nested(int objects) => string.Concat(Enumerable.Repeat("{\"k\":", objects)) + "1" + new string('}', objects);
        var body = Batch(
            LayersEvent("product_view", "\"product_id\":\"p-1\",\"event_id\":\"keep-1\""),
            LayersEvent("page_view", $"\"event_id\":\"drop-deep\",\"contextual_data\":{Nested(33)}"),
            LayersEvent("page_view", $"\"event_id\":\"keep-deepest\",\"contextual_data\":{Nested(32)}"));

        var report = JsonDocument.Parse(await (await PostAsync(body, store.Token, "?validate=1")).Content.ReadAsStringAsync()).RootElement;
        var response = await PostAsync(body, store.Token);

        Assert.Equal("field 'contextual_data' is nested too deeply to be stored (at most 32 levels of objects, fewer with arrays)",
            report.GetProperty("results")[1].GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        // Read as the worker reads the stream: one event too deep would have made the whole entry unreadable.
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["keep-1", "keep-deepest"], queued.Select(e => e.Event.EventId));
    }

    [Fact]
    public async Task DroppedEventsAreRecordedForAdminWeb()
    {
        var store = await host.CreateStoreAsync();

        await PostAsync(Batch(LayersEvent("product_view"), LayersEvent()), store.Token);

        var db = host.Redis.GetDatabase();
        var recent = await PollAsync(() => db.ListRangeAsync($"beacon:drops:{store.StoreId:D}"), r => r.Length > 0);
        var drop = JsonDocument.Parse((string)recent.Single()!).RootElement;
        Assert.Equal("missing required field 'product_id'", drop.GetProperty("reason").GetString());
        Assert.Equal("product_view", drop.GetProperty("event_type").GetString());
        Assert.Equal(0, drop.GetProperty("index").GetInt32());
        Assert.Equal(1, (long)await db.HashGetAsync($"beacon:drops:{store.StoreId:D}:counts", "product_view|missing_field"));
    }

    [Fact]
    public async Task DroppedEventsAreFoundByTheirEventIdForTheTrace()
    {
        var store = await host.CreateStoreAsync();

        await PostAsync(Batch(LayersEvent("product_view", "\"event_id\":\"ev-no-product\""), LayersEvent("product_view"),
            LayersEvent("page_view", "\"event_id\":\"ev-kept\"")), store.Token);

        var db = host.Redis.GetDatabase();
        var key = DropLogKeys.ByEventId(store.StoreId, DateOnly.FromDateTime(DateTime.UtcNow));
        var record = await PollAsync(() => db.HashGetAsync(key, "ev-no-product"), r => r.HasValue);
        var drop = JsonDocument.Parse((string)record!).RootElement;
        Assert.Equal("missing required field 'product_id'", drop.GetProperty("reason").GetString());
        Assert.Equal("ev-no-product", drop.GetProperty("event_id").GetString());
        Assert.Equal("beacon", drop.GetProperty("source").GetString());
        // Only dropped events with a client id are indexed; the index expires after the trace window (7 days and a day).
        Assert.Equal(1, await db.HashLengthAsync(key));
        var ttl = await db.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromDays(8) - TimeSpan.FromMinutes(1), TimeSpan.FromDays(8));
    }

    [Fact]
    public async Task ValidateModeReportsEachIndexAndQueuesNothing()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(
            LayersEvent("product_view", "\"product_id\":7003338965178"),
            LayersEvent("product_view"),
            LayersEvent("foo"),
            """{"event_type":"page_view","session_id":"s"}""",
            "42",
            LayersEvent("product_click", "\"product_id\":1,\"position\":0"));

        var response = await PostAsync(body, store.Token, "?validate=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(1, report.GetProperty("accepted").GetInt32());
        Assert.Equal(5, report.GetProperty("rejected").GetInt32());
        var results = report.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 6), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal("accepted", results[0].GetProperty("status").GetString());
        Assert.False(results[0].TryGetProperty("reason", out _));
        Assert.Equal("missing required field 'product_id'", results[1].GetProperty("reason").GetString());
        Assert.Equal("unknown event_type 'foo'", results[2].GetProperty("reason").GetString());
        Assert.Equal("missing required field 'timestamp'", results[3].GetProperty("reason").GetString());
        Assert.Equal("event must be a JSON object, not a number", results[4].GetProperty("reason").GetString());
        Assert.Equal("field 'position' must be a positive whole number", results[5].GetProperty("reason").GetString());
        await Task.Delay(100);
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
        Assert.Equal(0, await host.Redis.GetDatabase().ListLengthAsync($"beacon:drops:{store.StoreId:D}"));
    }

    [Fact]
    public async Task AnEventIdSeenBeforeIsAcceptedButNotQueuedAgain()
    {
        var store = await host.CreateStoreAsync();
        var first = Batch(LayersEvent("page_view", "\"event_id\":\"evt-1\""), LayersEvent("page_view", "\"event_id\":\"evt-2\""));
        var second = Batch(LayersEvent("page_view", "\"event_id\":\"evt-2\""), LayersEvent("page_view", "\"event_id\":\"evt-3\""),
            LayersEvent("page_view", "\"event_id\":\"evt-3\""));

        Assert.Equal(HttpStatusCode.Created, (await PostAsync(first, store.Token)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(second, store.Token)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(first, store.Token)).StatusCode);

        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["evt-1", "evt-2", "evt-3"], queued.Select(e => e.Event.EventId));
        // Remembered in the current 24 h bucket, which lives until the end of the next one: 24 to 48 h from now.
        var holding = Assert.Single(await DedupHashesHoldingAsync(host.Redis, 0, store.StoreId, "evt-1"));
        var ttl = await host.Redis.GetDatabase().KeyTimeToLiveAsync(holding);
        Assert.InRange(ttl!.Value, TimeSpan.FromHours(24), TimeSpan.FromHours(48));
    }

    [Fact]
    public async Task ADuplicateIsCutFromABatchMixingEventsWithAndWithoutIdsAndTheRestKeepTheirOrder()
    {
        var store = await host.CreateStoreAsync();
        await PostAsync(Batch(LayersEvent("page_view", "\"event_id\":\"m-0\"")), store.Token);
        var mixed = Batch(
            LayersEvent("page_view", "\"device_id\":\"first\""),
            LayersEvent("page_view", "\"event_id\":\"m-0\""),
            LayersEvent("page_view", "\"event_id\":\"m-1\",\"device_id\":\"second\""),
            LayersEvent("search", "\"query\":\"\u00e9t\u00e9 \ud83d\ude00\",\"device_id\":\"third\""),
            LayersEvent("page_view", "\"event_id\":\"m-1\""));

        var response = await PostAsync(mixed, store.Token);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["m-0", "first", "second", "third"], queued.Select(e => e.Event.EventId == "m-0" ? "m-0" : e.Event.DeviceId));
        Assert.Equal("été 😀", queued[3].Event.Query);
        Assert.Equal(2, await host.QueuedEntriesAsync(store.StoreId));
    }

    [Fact]
    public async Task AnEventIdIsRememberedForAtLeastTheDedupWindowAndForgottenAfterTwice()
    {
        await using var factory = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?>
        {
            ["Ingestion:DedupWindow"] = "00:00:02",
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();
        var body = Batch(LayersEvent("page_view", "\"event_id\":\"again\""));
        Task<HttpResponseMessage> Post() => client.PostAsync("/beacon?token=" + Uri.EscapeDataString(store.Token), Json(body));

        var first = DateTime.UtcNow;
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);
        var within = DateTime.UtcNow - first;
        Assert.Single(await host.QueuedEventsAsync(store.StoreId));

        // Twice the window after the first post the id is forgotten: the same event is queued again.
        await Task.Delay(TimeSpan.FromSeconds(4.2) - (DateTime.UtcNow - first));
        Assert.Equal(HttpStatusCode.Created, (await Post()).StatusCode);
        Assert.Equal(2, (await host.QueuedEventsAsync(store.StoreId)).Count);
        Assert.True(within < TimeSpan.FromSeconds(2), $"the repeat was posted {within} after the first, outside the window");
    }

    [Fact]
    public async Task DedupIsPerStore()
    {
        var one = await host.CreateStoreAsync();
        var two = await host.CreateStoreAsync();
        var body = Batch(LayersEvent("page_view", "\"event_id\":\"shared-id\""));

        await PostAsync(body, one.Token);
        await PostAsync(body, two.Token);

        Assert.Single(await host.QueuedEventsAsync(one.StoreId));
        Assert.Single(await host.QueuedEventsAsync(two.StoreId));
    }

    [Fact]
    public async Task NumbersAndStringsAreBothAcceptedForIdentifiersButNotFractions()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(
            LayersEvent("add_to_cart", "\"product_id\":\"gid://shopify/Product/1\",\"variant_id\":41234567890,\"event_id\":\"a\""),
            LayersEvent("add_to_cart", "\"product_id\":1.5,\"event_id\":\"b\""));

        var response = await PostAsync(body, store.Token, "?validate=1");
        var results = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("results");

        Assert.Equal("accepted", results[0].GetProperty("status").GetString());
        Assert.Equal("field 'product_id' must be a string or a whole number", results[1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task CanonicalFieldsSurviveTheTripIntoTheQueue()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(LayersEvent("purchase",
            "\"revenue\":\"129.90\",\"currency\":\"usd\",\"customer_id\":99,\"marketing_source\":\"newsletter\"," +
            "\"contextual_data\":{\"cart\":{\"items\":[1,\"two\",true,null]}},\"shopping_channel\":\"app\",\"timestamp\":\"2025-01-15T16:30:00+02:00\""));

        Assert.Equal(HttpStatusCode.Created, (await PostAsync(body, store.Token)).StatusCode);

        var e = Assert.Single(await host.QueuedEventsAsync(store.StoreId)).Event;
        Assert.Equal("129.90", e.Revenue);
        Assert.Equal("USD", e.Currency);
        Assert.Equal("99", e.CustomerId);
        Assert.Equal("newsletter", e.MarketingSource);
        Assert.Equal("app", e.ShoppingChannel);
        Assert.Equal(new DateTime(2025, 1, 15, 14, 30, 0, DateTimeKind.Utc), e.Timestamp.ToDateTime());
        var items = e.ContextualData.Fields["cart"].StructValue.Fields["items"].ListValue.Values;
        Assert.Equal(4, items.Count);
        Assert.Equal("two", items[1].StringValue);
    }

    private static async Task AssertUnauthenticated(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("""{"error":"Unauthenticated"}""", await response.Content.ReadAsStringAsync());
    }

    private static async Task<List<string>> ErrorsOf(HttpResponseMessage response)
    {
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return body.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    internal static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done, int timeoutMs = 3000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }
            await Task.Delay(20);
        }
    }

    /// <summary>A body whose length is not known up front, sent chunked.</summary>
    private sealed class UnknownLengthContent(byte[] data) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => stream.WriteAsync(data).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
