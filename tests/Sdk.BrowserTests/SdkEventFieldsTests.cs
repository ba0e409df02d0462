using System.Globalization;
using System.Text.Json;
using Beacon.Sdk.BrowserTests.Infrastructure;

namespace Beacon.Sdk.BrowserTests;

/// <summary>The fields the SDK fills in for the page: event id, timestamp and the tab's session.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SdkEventFieldsTests(SdkEnvironment environment)
{
    private const string Token = "bk_test_fake";
    private const string UuidV4Pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";

    [Fact]
    public async Task EveryEventCarriesAUniqueEventIdAnIsoTimestampAndTheTabsSessionId()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        await page.TrackAsync("page_view");
        await page.TrackAsync("search", new { query = "linen shirt" });
        await page.FlushAsync();

        var events = collector.Events;
        Assert.Equal(2, events.Count);
        var session = await page.SessionStorageAsync("beacon_session_id");
        Assert.NotNull(session);
        Assert.All(events, e =>
        {
            Assert.Matches(UuidV4Pattern, e.EventId());
            Assert.Equal(session, e.GetProperty("session_id").GetString());
            var timestamp = DateTimeOffset.ParseExact(e.GetProperty("timestamp").GetString()!,
                "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
            Assert.InRange(timestamp, before, DateTimeOffset.UtcNow.AddSeconds(1));
        });
        Assert.NotEqual(events[0].EventId(), events[1].EventId());
        Assert.Equal("search", events[1].GetProperty("event_type").GetString());
        Assert.Equal("linen shirt", events[1].GetProperty("query").GetString());
    }

    [Fact]
    public async Task TheSessionIdLastsAcrossPagesOfATabButANewTabStartsItsOwn()
    {
        var collector = environment.Storefront.AddCollector();
        var firstPage = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        await firstPage.TrackAsync("page_view");
        await firstPage.FlushAsync();

        // The same tab loads another storefront page (same origin): sessionStorage carries over.
        var secondUrl = firstPage.Page.Url;
        await firstPage.Page.GotoAsync(environment.Storefront.NextPageUrl);
        await firstPage.Page.GotoAsync(secondUrl);
        await firstPage.TrackAsync("page_view");
        await firstPage.FlushAsync();

        var otherTab = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        await otherTab.TrackAsync("page_view");
        await otherTab.FlushAsync();

        var sessions = collector.Events.Select(e => e.GetProperty("session_id").GetString()).ToList();
        Assert.Equal(3, sessions.Count);
        Assert.Equal(sessions[0], sessions[1]);
        Assert.NotEqual(sessions[0], sessions[2]);
    }

    [Fact]
    public async Task FieldsGivenByThePageWinOverGeneratedOnesAndDefaultsApplyToEveryEvent()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint,
            new { defaults = new { customer_id = "c-1", shopping_channel = "web" } });

        var id = await page.TrackAsync("page_view", new
        {
            event_id = "order-1001-viewed",
            timestamp = "2026-01-02T03:04:05.000Z",
            customer_id = "c-2",
            contextual_data = new { theme = "dawn" },
        });
        await page.TrackAsync("cart_view");
        await page.FlushAsync();

        Assert.Equal("order-1001-viewed", id);
        var events = collector.Events;
        Assert.Equal("order-1001-viewed", events[0].EventId());
        Assert.Equal("2026-01-02T03:04:05.000Z", events[0].GetProperty("timestamp").GetString());
        Assert.Equal("c-2", events[0].GetProperty("customer_id").GetString());
        Assert.Equal("dawn", events[0].GetProperty("contextual_data").GetProperty("theme").GetString());
        Assert.Equal("c-1", events[1].GetProperty("customer_id").GetString());
        Assert.All(events, e => Assert.Equal("web", e.GetProperty("shopping_channel").GetString()));
    }

    [Fact]
    public async Task EventIdsAreRandomUuidsAlsoWhereCryptoRandomUuidIsMissing()
    {
        var collector = environment.Storefront.AddCollector();
        // Plain-http storefronts are not a secure context: randomUUID is undefined there.
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint,
            beforeSdk: "delete Crypto.prototype.randomUUID;");
        Assert.True(await page.Page.EvaluateAsync<bool>("() => typeof crypto.randomUUID === 'undefined'"));

        var ids = await page.TrackManyAsync(50, "page_view");

        Assert.All(ids, id => Assert.Matches(UuidV4Pattern, id));
        Assert.Equal(50, ids.Distinct().Count());
    }

    [Fact]
    public async Task CallsQueuedByTheAsyncLoadingStubAreReplayedWhenTheScriptArrives()
    {
        var collector = environment.Storefront.AddCollector();
        var stub = $$"""
            window.Beacon = { q: [] };
            window.Beacon.init = function () { window.Beacon.q.push(['init', arguments]); };
            window.Beacon.track = function () { window.Beacon.q.push(['track', arguments]); };
            Beacon.init({ token: {{JsonSerializer.Serialize(Token)}}, endpoint: {{JsonSerializer.Serialize(collector.Endpoint)}}, flushInterval: 60000 });
            Beacon.track('page_view', { event_id: 'tracked-before-load' });
            """;
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, beforeSdk: stub);

        await page.FlushAsync();

        var request = Assert.Single(collector.Requests);
        Assert.Equal("tracked-before-load", Assert.Single(request.Events).EventId());
    }

    [Fact]
    public async Task AnEventTooLargeForABeaconIsDroppedWithAWarningAndTheOthersStillGo()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        var warnings = new List<string>();
        page.Page.Console += (_, message) =>
        {
            if (message.Type == "warning")
            {
                warnings.Add(message.Text);
            }
        };

        var dropped = await page.Page.EvaluateAsync<string?>(
            "() => Beacon.track('page_view', { contextual_data: { blob: 'x'.repeat(70000) } })");
        var kept = await page.TrackAsync("page_view");
        await page.FlushAsync();

        Assert.Null(dropped);
        Assert.Contains(warnings, w => w.StartsWith("Beacon: dropped", StringComparison.Ordinal));
        Assert.Equal(kept, Assert.Single(collector.Events).EventId());
    }
}
