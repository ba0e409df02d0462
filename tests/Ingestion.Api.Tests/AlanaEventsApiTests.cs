using System.Net;
using System.Text.Json;
using Beacon.TestHost;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>The <c>POST /api/v1/events</c> contract (DESIGN §3): camelCase Alana events, counts, shared rate limits.</summary>
public sealed class AlanaEventsApiTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    private const string Visitor = "\"visitorId\":\"v-1\"";
    private const string ProductUuid = "8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10";

    private static readonly string[] AllSevenTypes =
    [
        $$"""{"eventType":"home-page-view",{{Visitor}}}""",
        $$"""{"eventType":"search",{{Visitor}},"query":"linen shirt"}""",
        $$"""{"eventType":"category-view",{{Visitor}},"categoryPath":"Women > Shoes"}""",
        $$"""{"eventType":"detail-page-view",{{Visitor}},"productId":"{{ProductUuid}}"}""",
        $$"""{"eventType":"add-to-cart",{{Visitor}},"productId":"{{ProductUuid}}","userId":"u-9"}""",
        $$"""{"eventType":"shopping-cart-page-view",{{Visitor}}}""",
        $$$"""{"eventType":"purchase-complete",{{{Visitor}}},"productIds":["{{{ProductUuid}}}",42],"revenue":59.5,"currency":"EUR","metadata":{"orderId":"o-1"}}""",
    ];

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string body, string? headerKey = null, string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/events" + query) { Content = Json(body) };
        if (headerKey is not null)
        {
            request.Headers.Add("x-api-key", headerKey);
        }
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task AllSevenAlanaTypesAreStoredAndCounted()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(host.CreateClient(), Batch(AllSevenTypes), store.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"status":"ok","stored":7,"errors":0}""", await response.Content.ReadAsStringAsync());
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["home-page-view", "search", "category-view", "detail-page-view", "add-to-cart", "shopping-cart-page-view", "purchase-complete"],
            queued.Select(e => e.Event.EventType));
        Assert.All(queued, e => Assert.Equal("v1-events", e.Source));
        Assert.All(queued, e => Assert.Equal("v-1", e.Event.VisitorId));
        Assert.Equal(ProductUuid, queued[3].Event.ProductId);
        Assert.Equal("u-9", queued[4].Event.UserId);
        var purchase = queued[6].Event;
        Assert.Equal([ProductUuid, "42"], purchase.ProductIds);
        Assert.Equal("59.5", purchase.Revenue);
        Assert.Equal("EUR", purchase.Currency);
        Assert.Equal("o-1", purchase.Metadata.Fields["orderId"].StringValue);
        Assert.Equal("Women > Shoes", queued[2].Event.CategoryPath);
    }

    [Fact]
    public async Task TheKeyMayComeFromTheQuery()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(host.CreateClient(), Batch(AllSevenTypes[0]), query: "?key=" + Uri.EscapeDataString(store.Token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AnUnknownKeyIsRefusedWith401()
    {
        var response = await PostAsync(host.CreateClient(), Batch(AllSevenTypes[0]), "bk_test_nope");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("""{"error":"Unauthenticated"}""", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task InvalidEventsAreCountedAsErrorsAndOnlyValidOnesStored()
    {
        var store = await host.CreateStoreAsync();
        var body = Batch(
            """{"eventType":"detail-page-view","visitorId":"v"}""",
            """{"eventType":"home-page-view"}""",
            """{"eventType":"purchase-complete","visitorId":"v","productIds":["a"],"revenue":"ten","currency":"EUR"}""",
            """{"eventType":"product_view","visitorId":"v","productId":"p"}""",
            AllSevenTypes[1]);

        var response = await PostAsync(host.CreateClient(), body, store.Token);

        Assert.Equal("""{"status":"ok","stored":1,"errors":4}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(["search"], (await host.QueuedEventsAsync(store.StoreId)).Select(e => e.Event.EventType));

        var report = await PostAsync(host.CreateClient(), body, store.Token, "?validate=1");
        var reasons = JsonDocument.Parse(await report.Content.ReadAsStringAsync()).RootElement.GetProperty("results")
            .EnumerateArray().Select(r => r.TryGetProperty("reason", out var reason) ? reason.GetString() : "accepted").ToList();
        Assert.Equal([
            "missing required field 'productId'",
            "missing required field 'visitorId'",
            "field 'revenue' must be a decimal number such as 19.99",
            "unknown eventType 'product_view'",
            "accepted",
        ], reasons);
    }

    [Fact]
    public async Task TopLevelProblemsAreRefusedWith422()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(host.CreateClient(), "{\"events\":[]}", store.Token);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
    }

    [Fact]
    public async Task OverThePerKeyAndIpLimitTheAnswerIs429WithRetryAfterUntilTheWindowEnds()
    {
        var store = await host.CreateStoreAsync(perIpPerMinute: 3);
        var client = host.CreateClient();
        var body = Batch(AllSevenTypes[0]);
        await WaitForFreshWindowAsync();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 5; i++)
        {
            var response = await PostAsync(client, body, store.Token);
            statuses.Add(response.StatusCode);
            limited = response.StatusCode == HttpStatusCode.TooManyRequests ? response : limited;
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        var retryAfter = limited!.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter!.Value.TotalSeconds, 1, 2);
        Assert.Equal(3, (await host.QueuedEventsAsync(store.StoreId)).Count);

        await Task.Delay(retryAfter.Value);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, body, store.Token)).StatusCode);
    }

    [Fact]
    public async Task ThePerKeyLimitIsSharedAcrossInstances()
    {
        var store = await host.CreateStoreAsync(perMinute: 4);
        await using var other = new ServiceFactory<Program>(host.Backends, new Dictionary<string, string?> { ["Ingestion:RateLimit:Window"] = "00:00:02" });
        var clients = new[] { host.CreateClient(), other.CreateClient() };
        var body = Batch(AllSevenTypes[0]);
        await WaitForFreshWindowAsync();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            statuses.Add((await PostAsync(clients[i % 2], body, store.Token)).StatusCode);
        }

        Assert.Equal(4, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }
}
