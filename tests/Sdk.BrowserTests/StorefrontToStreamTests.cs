using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Sdk.BrowserTests.Infrastructure;
using Beacon.TestHost;

namespace Beacon.Sdk.BrowserTests;

/// <summary>
/// End to end: a storefront page on its own origin loads <c>/sdk/beacon.js</c> from Ingestion.Api, tracks events
/// in real Chromium, and the events are read back from the Redis stream as Pipelines.Worker would read them.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class StorefrontToStreamTests(SdkEnvironment environment)
{
    private Backends Backends => environment.Backends;
    private string Endpoint => environment.Ingestion.BaseUrl;

    [Fact]
    public async Task EventsTrackedOnAStorefrontArriveInTheStreamWhenTheShopperNavigatesAway()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: [environment.Storefront.Origin]);
        var page = await environment.OpenStorefrontAsync(store.Token, Endpoint);
        var ids = new[]
        {
            await page.TrackAsync("page_view"),
            await page.TrackAsync("product_view", new { product_id = "1001" }),
            await page.TrackAsync("add_to_cart", new { product_id = "1001", variant_id = "2002" }),
        };
        var session = await page.SessionStorageAsync("beacon_session_id");

        await page.NavigateAwayAsync();

        var events = await environment.Stream.WaitForEventsAsync(store.StoreId, 3);
        Assert.Equal(ids.Order(), events.Select(e => e.Event.EventId).Order());
        Assert.All(events, e =>
        {
            Assert.Equal("beacon", e.Source);
            Assert.Equal(session, e.Event.SessionId);
        });
        var addToCart = Assert.Single(events, e => e.Event.EventType == "add_to_cart");
        Assert.Equal("1001", addToCart.Event.ProductId);
        Assert.Equal("2002", addToCart.Event.VariantId);
    }

    [Fact]
    public async Task AFlushFromAnAllowedOriginIsStoredAndItsCorsAnswerIsReadableByThePage()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: [environment.Storefront.Origin]);
        var page = await environment.OpenStorefrontAsync(store.Token, Endpoint);
        var id = await page.TrackAsync("search", new { query = "linen shirt" });

        var accepted = await page.FlushAsync();

        // true only if the browser let the page read a 2xx: the preflight and the reflected origin both worked.
        Assert.True(accepted, "the page could not read a 2xx from POST /beacon");
        var post = Assert.Single(environment.Ingestion.BeaconPostsWith(store.Token));
        Assert.Equal(201, post.Status);
        Assert.Equal(environment.Storefront.Origin, post.AllowOrigin);
        Assert.Equal("true", post.AllowCredentials);
        var stored = Assert.Single(await environment.Stream.WaitForEventsAsync(store.StoreId, 1));
        Assert.Equal(id, stored.Event.EventId);
        Assert.Equal("linen shirt", stored.Event.Query);
    }

    [Fact]
    public async Task EventsFromAnOriginTheTokenDoesNotAllowAreRefusedOnEveryPathAndNothingIsStored()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: ["https://shop.example"]);
        var page = await environment.OpenStorefrontAsync(store.Token, Endpoint);
        await page.TrackAsync("page_view");
        await page.TrackAsync("product_view", new { product_id = "1001" });

        // The fetch is refused, unreadable to the page: the SDK keeps the events and, when the shopper leaves,
        // hands them to sendBeacon, which ignores CORS; so the server itself must refuse that request too.
        Assert.False(await page.FlushAsync());
        await page.NavigateAwayAsync();
        var posts = await WaitForPostsAsync(store.Token, count: 2);

        Assert.Equal(2, posts.Count);
        Assert.All(posts, p =>
        {
            Assert.Equal(environment.Storefront.Origin, p.Origin);
            Assert.Equal(403, p.Status);
        });
        Assert.Contains(posts, p => !p.HasQueryToken && p.ContentType?.StartsWith("application/json") == true);
        Assert.Contains(posts, p => p.HasQueryToken && p.ContentType?.StartsWith("text/plain") == true);
        await Task.Delay(300);
        Assert.Empty(await environment.Stream.EventsOfAsync(store.StoreId));
    }

    [Fact]
    public async Task APageClosedRightAfterTrackStillDeliversThroughSendBeacon()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: [environment.Storefront.Origin]);
        var page = await environment.OpenStorefrontAsync(store.Token, Endpoint);

        var id = await page.TrackAsync("checkout_started");
        await page.Page.CloseAsync();

        var stored = Assert.Single(await environment.Stream.WaitForEventsAsync(store.StoreId, 1));
        Assert.Equal(id, stored.Event.EventId);
        Assert.Equal("checkout_started", stored.Event.EventType);
    }

    [Fact]
    public async Task ManyLargeEventsAreSplitIntoSeveralRequestsAndEveryOneIsStored()
    {
        var store = await Backends.CreateStoreAsync();
        var page = await environment.OpenStorefrontAsync(store.Token, Endpoint);
        var note = new string('x', 15_000);

        var ids = await page.TrackManyAsync(12, "page_view", new { contextual_data = new { note } });
        Assert.True(await page.FlushAsync());

        var batches = await WaitForBatchesAsync(store.StoreId, 12);
        // One batch per accepted request: several batches prove the SDK split the ~180 KB.
        Assert.True(batches.Count >= 3, $"expected several requests, the stream has {batches.Count} batches");
        var posts = environment.Ingestion.BeaconPostsWith(store.Token);
        Assert.Equal(batches.Count, posts.Count);
        Assert.All(posts, p => Assert.InRange(p.ContentLength ?? long.MaxValue, 1, 64_000));
        var events = batches.SelectMany(e => e).ToList();
        Assert.Equal(ids.Order(), events.Select(e => e.Event.EventId).Order());
        Assert.All(events, e => Assert.Equal(note, e.Event.ContextualData.Fields["note"].StringValue));
    }

    [Fact]
    public async Task AScriptTagWithADataTokenSendsToTheServerItWasLoadedFrom()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: [environment.Storefront.Origin]);
        var url = environment.Storefront.AddPage($$"""
            <!doctype html>
            <html><head><script src="{{environment.Ingestion.SdkUrl}}" data-token="{{store.Token}}"></script></head>
            <body><script>Beacon.track('page_view', { event_id: 'from-the-script-tag' });</script></body></html>
            """);
        var page = await environment.Chromium.NewPageAsync();
        await page.GotoAsync(url);

        await page.GotoAsync(environment.Storefront.NextPageUrl);

        var stored = Assert.Single(await environment.Stream.WaitForEventsAsync(store.StoreId, 1));
        Assert.Equal("from-the-script-tag", stored.Event.EventId);
    }

    [Fact]
    public async Task TheExamplePageDeliversWhatAShopperDoesOnIt()
    {
        var store = await Backends.CreateStoreAsync(allowedOrigins: [environment.Storefront.Origin]);
        var url = environment.Storefront.AddPage(await File.ReadAllTextAsync(RepositoryFiles.ExamplePage));
        var page = await environment.Chromium.NewPageAsync();
        await page.GotoAsync($"{url}?token={Uri.EscapeDataString(store.Token)}&endpoint={Uri.EscapeDataString(Endpoint)}");
        await page.WaitForFunctionAsync("() => window.Beacon && window.Beacon.version");

        await page.Locator("[data-product-id='1002'] .add").ClickAsync();
        await page.Locator("input[name=q]").FillAsync("beanie");
        await page.Locator("#search button").ClickAsync();
        await page.Locator("#checkout").ClickAsync();
        await page.WaitForURLAsync(u => u.Contains("step=checkout", StringComparison.Ordinal));

        // The first page's page_view, 3 impressions, add_to_cart, search and checkout_started. The next page
        // tracks its own, later (its interval may pass while this test reads), so they are told apart by time.
        var arrived = await environment.Stream.WaitForEventsAsync(store.StoreId, 7);
        var leftAt = arrived.Single(e => e.Event.EventType == "checkout_started").Event.Timestamp.ToDateTimeOffset();
        var events = arrived.Where(e => e.Event.Timestamp.ToDateTimeOffset() <= leftAt).ToList();
        var types = events.Select(e => e.Event.EventType).ToList();
        Assert.Equal(7, types.Count);
        Assert.Equal(1, types.Count(t => t == "page_view"));
        Assert.Equal(3, types.Count(t => t == "product_impression"));
        Assert.Equal("1002", Assert.Single(events, e => e.Event.EventType == "add_to_cart").Event.ProductId);
        Assert.Equal("beanie", Assert.Single(events, e => e.Event.EventType == "search").Event.Query);
        Assert.Single(events, e => e.Event.EventType == "checkout_started");
    }

    private async Task<IReadOnlyList<IReadOnlyList<EnrichedEvent>>> WaitForBatchesAsync(Guid storeId, int events)
    {
        await environment.Stream.WaitForEventsAsync(storeId, events);
        return await environment.Stream.BatchesOfAsync(storeId);
    }

    private async Task<IReadOnlyList<AnsweredRequest>> WaitForPostsAsync(string token, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var posts = environment.Ingestion.BeaconPostsWith(token);
            if (posts.Count >= count || DateTime.UtcNow > deadline)
            {
                return posts;
            }
            await Task.Delay(50);
        }
    }
}
