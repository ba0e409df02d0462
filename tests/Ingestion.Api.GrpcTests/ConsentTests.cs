using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>The proto's <c>consent</c> field reaches the queue through the gRPC door as through the JSON ones.</summary>
public sealed class ConsentTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    [Fact]
    public async Task SentEventsCarryTheirConsentIntoTheQueue()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var consented = TestEvents.ProductView();
        consented.Consent.Add(["analytics", "marketing"]);
        var without = TestEvents.ProductView();

        var response = await fixture.Server.Client.SendAsync(
            new SendEventsRequest { Events = { consented, without } }, GrpcIngestionServer.TokenMetadata(store.Token));

        Assert.Equal(2u, response.Accepted);
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal(["analytics", "marketing"], queued.Single(e => e.Event.EventId == consented.EventId).Event.Consent);
        Assert.Empty(queued.Single(e => e.Event.EventId == without.EventId).Event.Consent);
    }
}
