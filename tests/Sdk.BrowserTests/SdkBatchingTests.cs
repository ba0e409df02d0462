using System.Text.Json;
using Beacon.Sdk.BrowserTests.Infrastructure;

namespace Beacon.Sdk.BrowserTests;

/// <summary>
/// What the SDK sends and when, observed on a <see cref="FakeCollector"/> that records every request; the
/// same behaviour against the real Ingestion.Api is covered by <see cref="StorefrontToStreamTests"/>.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class SdkBatchingTests(SdkEnvironment environment)
{
    private const string Token = "bk_test_fake";

    [Fact]
    public async Task TrackedEventsWaitForTheFlushIntervalAndGoOutAsOneBatchWithTheTokenInAHeader()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, new { flushInterval = 1500 });

        var first = await page.TrackAsync("page_view");
        var second = await page.TrackAsync("product_view", new { product_id = "42" });
        await Task.Delay(500);
        Assert.Empty(collector.Requests);

        var request = Assert.Single(await collector.WaitForEventsAsync(2));
        Assert.Equal("application/json", request.ContentType);
        Assert.Equal(Token, request.HeaderToken);
        Assert.Null(request.QueryToken);
        Assert.Equal(environment.Storefront.Origin, request.Origin);
        Assert.Equal([first, second], request.Events.Select(e => e.EventId()));
    }

    [Fact]
    public async Task TwentyQueuedEventsAreSentAtOnceWithoutWaitingForTheInterval()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);

        await page.TrackManyAsync(19, "page_view");
        await Task.Delay(300);
        Assert.Empty(collector.Requests);
        await page.TrackAsync("page_view");

        var request = Assert.Single(await collector.WaitForEventsAsync(20, TimeSpan.FromSeconds(5)));
        Assert.Equal(20, request.Events.Count);
    }

    [Fact]
    public async Task LargeEventsAreSplitIntoRequestsThatEachStayUnderSixtyFourKilobytes()
    {
        var collector = environment.Storefront.AddCollector();
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        // Each event is ~15 KB of JSON, with multi-byte characters so that bytes and not characters are counted.
        var note = string.Concat(Enumerable.Repeat("ünïcödé ", 1800));

        var ids = await page.TrackManyAsync(12, "page_view", new { contextual_data = new { note } });
        await page.FlushAsync();

        var requests = collector.Requests;
        Assert.True(requests.Count >= 3, $"expected the ~180 KB to be split, got {requests.Count} request(s)");
        Assert.All(requests, r => Assert.True(r.BodyBytes <= 64_000, $"a request of {r.BodyBytes} bytes"));
        // The requests go out in parallel, so they may arrive in any order.
        Assert.Equal(ids.Order(), collector.Events.Select(e => e.EventId()!).Order());
        Assert.All(collector.Events, e => Assert.Equal(note, e.GetProperty("contextual_data").GetProperty("note").GetString()));
    }

    [Fact]
    public async Task ABatchNeverHoldsMoreThanOneHundredEvents()
    {
        var collector = environment.Storefront.AddCollector();
        // flushAt is capped at the batch size, so a page that sets it higher still gets batches of 100.
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, new { flushAt = 500 });

        await page.TrackManyAsync(250, "page_view");
        await page.FlushAsync();

        var requests = await collector.WaitForEventsAsync(250);
        Assert.Equal(250, collector.Events.Count);
        Assert.All(requests, r => Assert.InRange(r.Events.Count, 1, 100));
        Assert.Equal(250, collector.Events.Select(e => e.EventId()).Distinct().Count());
    }

    [Theory]
    [InlineData(503)]
    [InlineData(500)]
    [InlineData(429)]
    [InlineData(408)]
    public async Task EventsAreKeptAfterAnAnswerThatMayGetBetterAndDeliveredOnTheNextAttempt(int status)
    {
        var collector = environment.Storefront.AddCollector();
        collector.AnswerNext(status);
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, new { flushInterval = 300 });

        var id = await page.TrackAsync("page_view");

        var requests = await WaitForRequestsAsync(collector, 2);
        Assert.Equal([status, 201], requests.Select(r => r.Status));
        Assert.All(requests, r => Assert.Equal(id, Assert.Single(r.Events).EventId()));
    }

    [Fact]
    public async Task FlushTellsThePageWhetherEveryEventWasAccepted()
    {
        var collector = environment.Storefront.AddCollector();
        collector.AnswerNext(500);
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint);
        await page.TrackAsync("page_view");

        Assert.False(await page.FlushAsync());
        Assert.True(await page.FlushAsync());
        Assert.True(await page.FlushAsync()); // nothing left to send

        Assert.Equal([500, 201], collector.Requests.Select(r => r.Status));
    }

    [Theory]
    [InlineData(422)]
    [InlineData(401)]
    [InlineData(403)]
    public async Task EventsRefusedWithAClientErrorAreDroppedNotRetried(int status)
    {
        var collector = environment.Storefront.AddCollector();
        collector.AnswerNext(status);
        var page = await environment.OpenStorefrontAsync(Token, collector.Endpoint, new { flushInterval = 300 });

        await page.TrackAsync("page_view");
        await WaitForRequestsAsync(collector, 1);
        await Task.Delay(1500);
        var later = await page.TrackAsync("page_view");
        await page.FlushAsync();

        var requests = collector.Requests;
        Assert.Equal([status, 201], requests.Select(r => r.Status));
        Assert.Equal(later, Assert.Single(requests[1].Events).EventId());
    }

    [Fact]
    public async Task EventsOfAnUnreachableEndpointAreKeptUntilItAnswers()
    {
        var collector = environment.Storefront.AddCollector();
        // A port nobody listens on: the fetch fails with a network error.
        var deadEndpoint = $"http://127.0.0.1:{Beacon.TestHost.FreePort.Next()}";
        var page = await environment.OpenStorefrontAsync(Token, deadEndpoint);

        var id = await page.TrackAsync("page_view");
        Assert.False(await page.FlushAsync());
        // The same page now points the SDK at a live endpoint: what was kept goes out there.
        await page.Page.EvaluateAsync("([token, endpoint]) => Beacon.init({ token, endpoint, flushInterval: 60000 })",
            new[] { Token, collector.Endpoint });
        Assert.True(await page.FlushAsync());

        var request = Assert.Single(collector.Requests);
        Assert.Equal(id, Assert.Single(request.Events).EventId());
    }

    private static async Task<IReadOnlyList<CollectedRequest>> WaitForRequestsAsync(FakeCollector collector, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (collector.Requests.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        return collector.Requests;
    }
}
