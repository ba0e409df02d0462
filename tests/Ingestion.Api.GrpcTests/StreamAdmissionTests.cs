using System.Net;
using System.Net.Sockets;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>
/// Every batch of a stream goes through the same admission step as a call (token from the cache that config-change
/// announcements refresh, then the rate limits): a revoked token or a new limit reaches a stream already open.
/// </summary>
public sealed class StreamAdmissionTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private EventIngest.EventIngestClient Client => fixture.Server.Client;

    [Fact]
    public async Task ARevokedTokensNextBatchEndsTheOpenStreamUnauthenticatedWithNothingOfItQueued()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        await call.RequestStream.WriteAsync(TestEvents.Batch(1, 5));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal((1ul, 5u), (call.ResponseStream.Current.Sequence, call.ResponseStream.Current.Accepted));

        // As Admin.Web revokes: the row, then the announcement.
        await using (var db = fixture.Backends.CreateDbContext())
        {
            await db.AccessTokens.Where(t => t.Id == store.TokenId)
                .ExecuteUpdateAsync(t => t.SetProperty(x => x.Revoked, true).SetProperty(x => x.RevokedAt, DateTimeOffset.UtcNow));
        }
        await AnnounceAsync(store.Token);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var refused = TestEvents.Batch(2, 5);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(refused);
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        var queued = (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Select(e => e.Event.EventId).ToList();
        Assert.Equal(5, queued.Count);
        Assert.DoesNotContain(queued, id => refused.Events.Any(e => e.EventId == id));
    }

    [Fact]
    public async Task ALimitSetWhileAStreamIsOpenAppliesToItsNextBatch()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        await WaitForFreshMinuteAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        await call.RequestStream.WriteAsync(TestEvents.Batch(1, 2));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        await using (var db = fixture.Backends.CreateDbContext())
        {
            await db.AccessTokens.Where(t => t.Id == store.TokenId).ExecuteUpdateAsync(t => t.SetProperty(x => x.RateLimitPerMinute, 1));
        }
        await AnnounceAsync(store.Token);
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(TestEvents.Batch(2, 2));
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.NotNull(error.Trailers.GetValue("grpc-retry-pushback-ms"));
        Assert.Equal(2, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }

    [Fact]
    public async Task EachBatchOfAStreamCountsAgainstTheTokensLimit()
    {
        var store = await fixture.Backends.CreateStoreAsync(rateLimitPerMinute: 2);
        await WaitForFreshMinuteAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));

        var acks = new List<ulong>();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            for (ulong sequence = 1; sequence <= 3; sequence++)
            {
                await call.RequestStream.WriteAsync(TestEvents.Batch(sequence, 1));
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                acks.Add(call.ResponseStream.Current.Sequence);
            }
        });

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal([1ul, 2ul], acks);
        Assert.Equal(2, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }

    /// <summary>
    /// The documented storefront default: 600 requests a minute per token and client address. One app past it is held
    /// back; the same token from another address (another shopper behind another NAT) is not.
    /// </summary>
    [Fact]
    public async Task AStorefrontTokenIsHeldTo600BatchesAMinutePerAddressAndOtherAddressesGoOn()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        await WaitForFreshMinuteAsync(15);
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        var sending = Task.Run(async () =>
        {
            try
            {
                for (ulong sequence = 1; sequence <= 601; sequence++)
                {
                    await call.RequestStream.WriteAsync(TestEvents.Batch(sequence, 1));
                }
                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The call ended under the writer: its status is what the test reads.
            }
        });
        var acked = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
                acked++;
            }
        });
        await sending;

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal(600, acked);

        // 127.0.0.2 is another client address on the loopback network.
        using var other = GrpcChannel.ForAddress(fixture.Server.GrpcUrl, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { ConnectCallback = ConnectFrom(IPAddress.Parse("127.0.0.2")) },
        });
        var response = await new EventIngest.EventIngestClient(other).SendAsync(
            new SendEventsRequest { Events = { TestEvents.ProductView() } }, GrpcIngestionServer.TokenMetadata(store.Token));
        Assert.Equal(1u, response.Accepted);
    }

    private async Task AnnounceAsync(string token)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Backends.RedisConnectionString);
        await ConfigChanges.PublishAsync(redis, new ConfigChange.Token(TokenHasher.Hash(token)));
    }

    private static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectFrom(IPAddress local) =>
        async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };

    // The limits count in fixed one-minute windows: start a burst early in one so it does not straddle two.
    private static async Task WaitForFreshMinuteAsync(int secondsNeeded = 5)
    {
        var intoWindow = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() % 60_000;
        if (intoWindow > 60_000 - secondsNeeded * 1000)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(60_000 - intoWindow + 50));
        }
    }
}
