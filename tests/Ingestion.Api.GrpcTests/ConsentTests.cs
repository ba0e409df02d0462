using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>The proto's <c>consent</c> field reaches the queue through the gRPC door, checked by the JSON doors' rule.</summary>
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

    [Fact]
    public async Task ConsentListsTheJsonDoorsRefuseAreRejectedWithTheirReason()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var emptyName = TestEvents.ProductView();
        emptyName.Consent.Add(["analytics", ""]);
        var longName = TestEvents.ProductView();
        longName.Consent.Add(new string('c', 65));
        var tooMany = TestEvents.ProductView();
        tooMany.Consent.Add(Enumerable.Range(0, 21).Select(i => $"category{i}"));
        var mostAllowed = TestEvents.ProductView();
        mostAllowed.Consent.Add(Enumerable.Range(0, 19).Select(i => $"category{i}").Append(new string('c', 64)));

        var response = await fixture.Server.Client.SendAsync(
            new SendEventsRequest { Events = { emptyName, longName, tooMany, mostAllowed } }, GrpcIngestionServer.TokenMetadata(store.Token));

        const string Reason = "field 'consent' must be an array of at most 20 names of 1 to 64 characters";
        Assert.Equal(1u, response.Accepted);
        Assert.Collection(response.Rejections,
            r => Assert.Equal((0u, Reason), (r.Index, r.Reason)),
            r => Assert.Equal((1u, Reason), (r.Index, r.Reason)),
            r => Assert.Equal((2u, Reason), (r.Index, r.Reason)));
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal([mostAllowed.EventId], queued.Select(e => e.Event.EventId));
    }
}
