using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>With Redis gone nothing can be stored, so nothing may be acknowledged: UNAVAILABLE, and retry later.</summary>
public sealed class QueueOutageTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>, IAsyncLifetime
{
    private RedisServer _redis = null!;
    private GrpcIngestionServer _server = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _server = GrpcIngestionServer.Start(fixture.Backends, new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = _redis.ConnectionString,
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task SendAndStreamAnswerUnavailableWhileRedisIsDownAndRecoverAfterwards()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        var client = _server.Client;
        await client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers);
        using var call = client.Stream(headers);
        await call.RequestStream.WriteAsync(TestEvents.Batch(1, 5));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(1ul, call.ResponseStream.Current.Sequence);

        await _redis.StopAsync();

        var sendError = await Assert.ThrowsAsync<RpcException>(() =>
            client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, sendError.StatusCode);
        Assert.Contains("was stored", sendError.Status.Detail);
        Assert.NotNull(sendError.Trailers.GetValue("grpc-retry-pushback-ms"));

        await call.RequestStream.WriteAsync(TestEvents.Batch(2, 5));
        var streamError = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, streamError.StatusCode);

        await _redis.StartAsync();
        var recovered = await RetryAsync(() =>
            client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, headers).ResponseAsync);
        Assert.Equal(1u, recovered.Accepted);
    }

    // The server's Redis connection needs a moment to notice that Redis is back.
    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }
}
