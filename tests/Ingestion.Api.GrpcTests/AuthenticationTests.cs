using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Ingestion.GrpcTests;

public sealed class AuthenticationTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private EventIngest.EventIngestClient Client => fixture.Server.Client;

    [Fact]
    public async Task SendWithoutATokenIsUnauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("x-storefront-access-token", error.Status.Detail);
    }

    [Fact]
    public async Task SendWithAnUnknownTokenIsUnauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Client.SendAsync(
            new SendEventsRequest { Events = { TestEvents.ProductView() } },
            GrpcIngestionServer.TokenMetadata("bk_test_not-a-real-token")).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task SendWithARevokedTokenIsUnauthenticatedAndStoresNothing()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        await using (var db = fixture.Backends.CreateDbContext())
        {
            await db.AccessTokens.Where(t => t.Id == store.TokenId)
                .ExecuteUpdateAsync(t => t.SetProperty(x => x.Revoked, true).SetProperty(x => x.RevokedAt, DateTimeOffset.UtcNow));
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => Client.SendAsync(
            new SendEventsRequest { Events = { TestEvents.ProductView() } },
            GrpcIngestionServer.TokenMetadata(store.Token)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Empty(await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
    }

    [Fact]
    public async Task StreamWithAnUnknownTokenEndsUnauthenticatedWithoutAnyAck()
    {
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata("bk_test_not-a-real-token"));

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(TestEvents.Batch(1, 3));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task CallsOverTheTokensRateLimitAreResourceExhausted()
    {
        var store = await fixture.Backends.CreateStoreAsync(rateLimitPerMinute: 2);
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        for (var i = 0; i < 2; i++)
        {
            await Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers);
        }

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.NotNull(error.Trailers.GetValue("grpc-retry-pushback-ms"));
        Assert.Equal(2, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }

    [Fact]
    public async Task ATokenWithoutLimitsOfItsOwnIsNotHeldToTheAlanaDefaults()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);

        // One more call than the default per-key-and-IP limit (100 a minute), from the same address.
        for (var i = 0; i < 101; i++)
        {
            await Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers);
        }

        Assert.Equal(101, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }
}
