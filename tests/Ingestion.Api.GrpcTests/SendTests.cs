using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

public sealed class SendTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private const string IPhoneAppUserAgent =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    private const string DesktopChromeUserAgent =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

    private EventIngest.EventIngestClient Client => fixture.Server.Client;

    [Fact]
    public async Task EachInvalidEventIsRejectedWithItsIndexAndReasonWhileTheRestAreQueued()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var first = TestEvents.ProductView();
        var missingProduct = TestEvents.ProductView();
        missingProduct.ProductId = "";
        var unknownType = TestEvents.ProductView();
        unknownType.EventType = "not_a_type";
        var last = TestEvents.ProductView();

        var response = await Client.SendAsync(
            new SendEventsRequest { Events = { first, missingProduct, unknownType, last } }, GrpcIngestionServer.TokenMetadata(store.Token));

        Assert.Equal(2u, response.Accepted);
        Assert.Equal(2u, response.Rejected);
        Assert.Collection(response.Rejections,
            r => Assert.Equal((1u, "missing required field 'product_id'"), (r.Index, r.Reason)),
            r => Assert.Equal((2u, "unknown event_type 'not_a_type'"), (r.Index, r.Reason)));
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal([first.EventId, last.EventId], queued.Select(e => e.Event.EventId));
    }

    [Fact]
    public async Task EnrichmentComesFromTheCallsUserAgentAndRequestedWithMetadata()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        headers.Add("user-agent", IPhoneAppUserAgent);
        headers.Add("x-requested-with", "com.tapcart.storefront");

        await Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers);

        var envelope = Assert.Single(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
        Assert.Equal("grpc", envelope.Source);
        Assert.Equal(store.StoreId.ToString(), envelope.StoreId);
        Assert.Equal("mobile", envelope.DeviceType);
        Assert.Equal("iOS", envelope.Os);
        Assert.Equal("app", envelope.Event.ShoppingChannel);
        Assert.True(envelope.ReceivedAt.ToDateTime() > DateTime.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public async Task WithoutAnAppMarkerADesktopBrowserIsOnTheWebChannel()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        headers.Add("user-agent", DesktopChromeUserAgent);

        await Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers);

        var envelope = Assert.Single(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
        Assert.Equal("desktop", envelope.DeviceType);
        Assert.Equal("Chrome", envelope.Browser);
        Assert.Equal("web", envelope.Event.ShoppingChannel);
    }

    [Fact]
    public async Task AnEventIdSeenBeforeIsAcceptedAsADuplicateAndNotQueuedAgain()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        var repeated = TestEvents.ProductView();
        await Client.SendAsync(new SendEventsRequest { Events = { repeated } }, headers);

        var response = await Client.SendAsync(new SendEventsRequest { Events = { repeated.Clone(), TestEvents.ProductView() } }, headers);

        Assert.Equal(2u, response.Accepted);
        Assert.Equal(1u, response.Duplicates);
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal(2, queued.Count);
        Assert.Single(queued, e => e.Event.EventId == repeated.EventId);
    }

    [Fact]
    public async Task AnEventWithoutAnIdGetsAServerUuidV7()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var anonymous = TestEvents.ProductView();
        anonymous.EventId = "";

        await Client.SendAsync(new SendEventsRequest { Events = { anonymous } }, GrpcIngestionServer.TokenMetadata(store.Token));

        var envelope = Assert.Single(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
        Assert.Equal(7, Guid.Parse(envelope.Event.EventId).Version);
    }

    [Fact]
    public async Task ALowercaseCurrencyIsQueuedInUppercaseAsOverJson()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var purchase = TestEvents.ProductView();
        purchase.EventType = "purchase";
        purchase.Revenue = "19.99";
        purchase.Currency = "usd";

        var response = await Client.SendAsync(new SendEventsRequest { Events = { purchase } }, GrpcIngestionServer.TokenMetadata(store.Token));

        Assert.Equal(1u, response.Accepted);
        var envelope = Assert.Single(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
        Assert.Equal("USD", envelope.Event.Currency);
    }
}
