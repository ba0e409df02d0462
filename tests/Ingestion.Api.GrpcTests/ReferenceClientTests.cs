using Beacon.GrpcClient;
using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Net.Client;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>The sample an app developer copies (tests/Load/GrpcClient) keeps its promise on a bad network.</summary>
public sealed class ReferenceClientTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    [Fact]
    public async Task TheReferenceClientResumesAfterDroppedConnectionsWithoutLosingOrDuplicatingEvents()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var network = new FlakyNetworkHandler();
        using var channel = GrpcChannel.ForAddress(fixture.Server.GrpcUrl, new GrpcChannelOptions { HttpHandler = network });
        var buffer = new OfflineEventBuffer();
        var sender = new EventStreamSender(new EventIngest.EventIngestClient(channel), store.Token, buffer, new SenderOptions
        {
            BatchSize = 10,
            Window = 2,
            FirstRetryDelay = TimeSpan.FromMilliseconds(20),
            MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        });
        var events = TestEvents.ProductViews(3000);
        events.ForEach(e => e.EventId = "");
        events.ForEach(buffer.Add);

        using var stop = new CancellationTokenSource();
        var sending = sender.RunAsync(stop.Token);
        var emptied = buffer.WaitUntilEmptyAsync(CancellationToken.None);
        // Drop the connection whenever a few more batches have been acked, until the buffer is empty.
        var ackedAtLastDrop = 0L;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!emptied.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.WhenAny(emptied, Task.Delay(1));
            var acked = sender.Statistics.Stored + sender.Statistics.Duplicates;
            if (acked - ackedAtLastDrop >= 250)
            {
                ackedAtLastDrop = acked;
                network.DropConnections();
            }
        }
        await stop.CancelAsync();
        await sending;

        Assert.True(emptied.IsCompletedSuccessfully, $"{buffer.Count} events were still unacked after 60 s");
        Assert.True(network.Drops >= 5, $"only {network.Drops} drops");
        Assert.True(sender.Statistics.Reconnects >= 5);
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal(3000, queued.Count);
        Assert.Equal(events.Select(e => e.EventId).Order(), queued.Select(e => e.Event.EventId).Order());
        // Each event was acked exactly once, by the ack of its last send. Some first sends were stored but their
        // ack was lost with the connection; the resend was answered as a duplicate, so Redis still has one copy.
        Assert.Equal(3000, sender.Statistics.Stored + sender.Statistics.Duplicates);
        Assert.True(sender.Statistics.Duplicates > 0);
    }

    [Fact]
    public async Task TheSamplesDemoCommandDeliversEveryEventOnceOverADroppingNetwork()
    {
        var store = await fixture.Backends.CreateStoreAsync();

        var exitCode = await Beacon.GrpcClient.Program.Main(
            ["demo", "--url", fixture.Server.GrpcUrl, "--token", store.Token, "--events", "1000", "--drop-every-ms", "40"]);

        Assert.Equal(0, exitCode);
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal(1000, queued.Select(e => e.Event.EventId).Distinct().Count());
        Assert.Equal(1000, queued.Count);
    }
}
