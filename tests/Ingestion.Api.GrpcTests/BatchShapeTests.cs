using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

public sealed class BatchShapeTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private EventIngest.EventIngestClient Client => fixture.Server.Client;

    [Fact]
    public async Task SendRejectsAnEmptyBatchAsInvalidArgument()
    {
        var store = await fixture.Backends.CreateStoreAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.SendAsync(new SendEventsRequest(), GrpcIngestionServer.TokenMetadata(store.Token)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("no events", error.Status.Detail);
    }

    [Fact]
    public async Task SendRejectsBatchesOverOneHundredEventsAndStoresNoneOfThem()
    {
        var store = await fixture.Backends.CreateStoreAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() => Client.SendAsync(
            new SendEventsRequest { Events = { TestEvents.ProductViews(101) } },
            GrpcIngestionServer.TokenMetadata(store.Token)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("101 events", error.Status.Detail);
        Assert.Empty(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
    }

    [Fact]
    public async Task SendAcceptsExactlyOneHundredEvents()
    {
        var store = await fixture.Backends.CreateStoreAsync();

        var response = await Client.SendAsync(
            new SendEventsRequest { Events = { TestEvents.ProductViews(100) } }, GrpcIngestionServer.TokenMetadata(store.Token));

        Assert.Equal(100u, response.Accepted);
        Assert.Equal(100, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }

    [Fact]
    public async Task AStreamAcksTheBatchesBeforeAnOversizedOneThenEndsWithInvalidArgument()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));

        await call.RequestStream.WriteAsync(TestEvents.Batch(1, 10));
        await call.RequestStream.WriteAsync(TestEvents.Batch(2, 10));
        await call.RequestStream.WriteAsync(TestEvents.Batch(3, 101));

        var acks = new List<ulong>();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                acks.Add(ack.Sequence);
            }
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("Batch 3:", error.Status.Detail);
        Assert.Equal([1ul, 2ul], acks);
        Assert.Equal(20, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }
}
