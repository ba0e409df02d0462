using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

public sealed class StreamTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private EventIngest.EventIngestClient Client => fixture.Server.Client;

    [Fact]
    public async Task AStreamOfOneThousandBatchesGetsOneThousandAcksInOrder()
    {
        // More batches a minute than the storefront default lets one address send: a token with limits of its own.
        var store = await fixture.Backends.CreateStoreAsync(rateLimitPerMinute: 10_000, rateLimitPerIpPerMinute: 10_000);
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));

        var sending = Task.Run(async () =>
        {
            for (ulong sequence = 1; sequence <= 1000; sequence++)
            {
                await call.RequestStream.WriteAsync(TestEvents.Batch(sequence, 5));
            }
            await call.RequestStream.CompleteAsync();
        });
        var acks = new List<BatchAck>();
        await foreach (var ack in call.ResponseStream.ReadAllAsync())
        {
            acks.Add(ack);
        }
        await sending;

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (ulong)i), acks.Select(a => a.Sequence));
        Assert.All(acks, ack => Assert.Equal((5u, 0u, 0u), (ack.Accepted, ack.Rejected, ack.Duplicates)));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal(5000, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
    }

    [Fact]
    public async Task ABatchWhoseEventsWereAllSeenBeforeIsAckedWithoutQueueingThemAgain()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        var batch = TestEvents.Batch(1, 5);
        var resent = batch.Clone();
        resent.Sequence = 2;

        await call.RequestStream.WriteAsync(batch);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var first = call.ResponseStream.Current;
        await call.RequestStream.WriteAsync(resent);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var second = call.ResponseStream.Current;
        await call.RequestStream.CompleteAsync();

        Assert.Equal((1ul, 5u, 0u), (first.Sequence, first.Accepted, first.Duplicates));
        Assert.Equal((2ul, 5u, 5u), (second.Sequence, second.Accepted, second.Duplicates));
        Assert.Equal(5, (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId)).Count);
        Assert.Equal(1, await QueuedEvents.EntriesOfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId));
    }

    [Fact]
    public async Task AnAckNamesTheIndexAndReasonOfEachRejectedEvent()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        var batch = TestEvents.Batch(7, 3);
        batch.Events[2].SessionId = "";

        await call.RequestStream.WriteAsync(batch);
        await call.RequestStream.CompleteAsync();
        var ack = Assert.Single(await call.ResponseStream.ReadAllAsync().ToListAsync());

        Assert.Equal((7ul, 2u, 1u), (ack.Sequence, ack.Accepted, ack.Rejected));
        var rejection = Assert.Single(ack.Rejections);
        Assert.Equal((2u, "missing required field 'session_id'"), (rejection.Index, rejection.Reason));
    }

    [Fact]
    public async Task AnIdleStreamStaysOpenLongerThanKestrelsMinimumDataRateGracePeriod()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token));
        await call.RequestStream.WriteAsync(TestEvents.Batch(1, 1));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        // An app in the foreground may send nothing for a while; Kestrel's body data-rate check (5 s grace) must not end it.
        await Task.Delay(TimeSpan.FromSeconds(7));
        await call.RequestStream.WriteAsync(TestEvents.Batch(2, 1));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal((2ul, 1u), (call.ResponseStream.Current.Sequence, call.ResponseStream.Current.Accepted));
    }

    [Fact]
    public async Task CancellingAStreamMidwayLosesNothingThatWasAcked()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var cancel = new CancellationTokenSource();
        using var call = Client.Stream(GrpcIngestionServer.TokenMetadata(store.Token), cancellationToken: cancel.Token);
        var sent = new Dictionary<ulong, EventBatch>();

        // The app keeps sending while acks come back, so batches are in flight when the connection goes.
        var sending = Task.Run(async () =>
        {
            for (ulong sequence = 1; !cancel.IsCancellationRequested; sequence++)
            {
                var batch = TestEvents.Batch(sequence, 20);
                lock (sent)
                {
                    sent[sequence] = batch;
                }
                await call.RequestStream.WriteAsync(batch, cancel.Token);
            }
        });
        var acked = new List<string>();
        var ended = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                lock (sent)
                {
                    acked.AddRange(sent[ack.Sequence].Events.Select(e => e.EventId));
                }
                if (ack.Sequence == 50)
                {
                    await cancel.CancelAsync();
                }
            }
        });
        try
        {
            await sending;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            // Writing into a cancelled call fails; that is the app's "connection dropped".
        }

        Assert.Equal(StatusCode.Cancelled, ended.StatusCode);
        Assert.True(acked.Count >= 50 * 20);
        var queued = (await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId))
            .Select(e => e.Event.EventId).ToHashSet();
        Assert.DoesNotContain(acked, id => !queued.Contains(id));
    }
}
