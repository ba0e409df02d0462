using Beacon.Sdk.BrowserTests.Infrastructure;

namespace Beacon.Sdk.BrowserTests;

/// <summary>Leaving the page: what is queued is handed to the browser (sendBeacon) and outlives the page.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SdkUnloadTests(SdkEnvironment environment)
{
    private const string Token = "bk_test_fake";

    [Fact]
    public async Task NavigatingAwaySendsQueuedEventsAsATextPlainBeaconWithTheTokenInTheQuery()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var ids = new[]
        {
            await page.TrackAsync("page_view"),
            await page.TrackAsync("product_view", new { product_id = "42" }),
            await page.TrackAsync("add_to_cart", new { product_id = "42" }),
        };

        await page.NavigateAwayAsync();

        var request = Assert.Single(await collector.WaitForEventsAsync(3));
        Assert.True(request.IsUnloadRequest, $"sent as {request.ContentType} with a header token");
        Assert.Equal(Token, request.QueryToken);
        Assert.Equal(environment.Storefront.Origin, request.Origin);
        Assert.Equal(ids, request.Events.Select(e => e.EventId()));
    }

    [Fact]
    public async Task APageClosedRightAfterTrackStillDeliversItsEvents()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);

        var id = await page.TrackAsync("product_view", new { product_id = "7" });
        await page.Page.CloseAsync();

        await AssertSentOnUnloadAsync(collector, id);
    }

    [Fact]
    public async Task WhenSendBeaconRefusesAKeepaliveFetchDeliversTheEvents()
    {
        var collector = environment.Storefront.AddCollector();
        // As when the beacon quota is used up: sendBeacon answers false and sends nothing.
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint,
            beforeSdk: "navigator.sendBeacon = function () { return false; };");

        var id = await page.TrackAsync("page_view");
        await page.NavigateAwayAsync();

        // text/plain with the token in the query, not the normal JSON fetch: the keepalive fallback sent it.
        await AssertSentOnUnloadAsync(collector, id);
    }

    [Fact]
    public async Task HidingTheTabSendsQueuedEventsAtOnce()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var id = await page.TrackAsync("page_view");

        // The app switcher on a phone: the page is hidden and may be killed without a pagehide.
        await page.Page.EvaluateAsync("""
            () => {
              Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
              document.dispatchEvent(new Event('visibilitychange'));
            }
            """);

        await AssertSentOnUnloadAsync(collector, id);
    }

    [Fact]
    public async Task APagehideAloneSendsQueuedEvents()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var id = await page.TrackAsync("page_view");

        // Browsers differ in which of pagehide and visibilitychange they fire on the way out; either is enough.
        await page.Page.EvaluateAsync("() => window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }))");

        await AssertSentOnUnloadAsync(collector, id);
    }

    [Fact]
    public async Task EventsStillWaitingForAnAnswerAreSentAgainWhenThePageGoesAway()
    {
        var collector = environment.Storefront.AddCollector();
        collector.AnswerDelay = TimeSpan.FromSeconds(2);
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var id = await page.TrackAsync("page_view");

        // The flush is in flight (its answer is slow) when the shopper follows a link.
        await page.Page.EvaluateAsync("() => { Beacon.flush(); }");
        await Task.Delay(200);
        await page.NavigateAwayAsync();

        var requests = await collector.WaitForEventsAsync(2);
        Assert.Equal(2, requests.Count);
        Assert.Single(requests, r => r.IsUnloadRequest);
        Assert.All(requests, r => Assert.Equal(id, Assert.Single(r.Events).EventId()));
    }

    [Fact]
    public async Task BeaconsAtUnloadAreSplitIntoBatchesOfAtMostOneHundredEvents()
    {
        var collector = environment.Storefront.AddCollector();
        collector.AnswerDelay = TimeSpan.FromSeconds(2);
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, new { flushAt = 100 });
        // The first hundred go out at once and wait for their slow answer; fifty more stay queued.
        var ids = await page.TrackManyAsync(150, "page_view");
        await Task.Delay(200);

        await page.NavigateAwayAsync();

        await collector.WaitForEventsAsync(250);
        var beacons = collector.Requests.Where(r => r.IsUnloadRequest).ToList();
        Assert.Equal([50, 100], beacons.Select(r => r.Events.Count).Order());
        Assert.Equal(ids.Order(), beacons.SelectMany(r => r.Events).Select(e => e.EventId()!).Order());
    }

    /// <summary>Exactly one request arrived, the unload kind (text/plain, token in the query), with just this event.</summary>
    private static async Task AssertSentOnUnloadAsync(FakeCollector collector, string eventId)
    {
        var request = Assert.Single(await collector.WaitForEventsAsync(1));
        Assert.True(request.IsUnloadRequest, $"sent as {request.ContentType} with a header token");
        Assert.Equal(Token, request.QueryToken);
        Assert.Equal(eventId, Assert.Single(request.Events).EventId());
    }
}
