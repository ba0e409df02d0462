using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>DESIGN §3: a Send whose message has been read is ingested even if the client cancels the call before the answer.</summary>
public sealed class AbortedCallTests
{
    [Fact]
    public async Task ASendCancelledAfterItsMessageWasReadIsStoredOnce()
    {
        var backends = await Backends.StartIsolatedAsync();
        var logs = new LogCapture();
        try
        {
            await using var server = GrpcIngestionServer.Start(backends, new Dictionary<string, string?>
            {
                // "received RST_STREAM frame": the sign that the server saw the client cancel.
                ["Logging:LogLevel:Microsoft.AspNetCore.Server.Kestrel.Http2"] = "Trace",
            }, logs);
            await WaitUntilHealthyAsync(server);
            var store = await backends.CreateStoreAsync();
            var sent = TestEvents.ProductView();
            var resetsBefore = logs.Count("received RST_STREAM frame");
            using var cancel = new CancellationTokenSource();

            await using (var tokens = await TokenTableLock.TakeAsync(backends.PostgresConnectionString))
            {
                var call = server.Client.SendAsync(
                    new SendEventsRequest { Events = { sent } }, GrpcIngestionServer.TokenMetadata(store.Token), cancellationToken: cancel.Token);
                // gRPC calls Send only once the message is read: now it waits in authentication for the token row.
                await tokens.WaitForLookupAsync();
                await cancel.CancelAsync();
                var cancelled = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
                Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
                await logs.WaitForAsync("received RST_STREAM frame", resetsBefore);
            }

            var deadline = DateTime.UtcNow.AddSeconds(30);
            List<EnrichedEvent> queued;
            while ((queued = await QueuedEvents.OfStoreAsync(backends.RedisConnectionString, store.StoreId)).Count == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            Assert.Equal([sent.EventId], queued.Select(e => e.Event.EventId));
        }
        finally
        {
            await backends.Redis.DisposeAsync();
        }
    }

    private static async Task WaitUntilHealthyAsync(GrpcIngestionServer server)
    {
        using var http = server.CreateJsonClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await http.GetAsync("/health")).IsSuccessStatusCode)
        {
            Assert.True(DateTime.UtcNow < deadline, "/health did not say healthy within 60 s");
            await Task.Delay(20);
        }
    }
}
