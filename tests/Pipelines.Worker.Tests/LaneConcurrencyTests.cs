using Beacon.TestHost;
using Beacon.Worker.Delivery;
using Beacon.Worker.Tests.Infrastructure;

namespace Beacon.Worker.Tests;

public sealed class LaneConcurrencyTests(BackendsFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<BackendsFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ALaneGrowsByOnePerBatchDeliveredWhileBehindUpToTheCeilingAndHalvesOnARetry()
    {
        var lane = new LaneConcurrency(initial: 4);
        for (var i = 0; i < 40; i++)
        {
            await lane.WaitAsync(CancellationToken.None);
            lane.Release(LaneSignal.Grow, ceiling: 32);
            Assert.Equal(Math.Min(32, 5 + i), lane.Limit);
        }
        await lane.WaitAsync(CancellationToken.None);
        lane.Release(LaneSignal.Shrink, ceiling: 32);
        Assert.Equal(16, lane.Limit);
        for (var i = 0; i < 10; i++)
        {
            await lane.WaitAsync(CancellationToken.None);
            lane.Release(LaneSignal.Shrink, ceiling: 32);
        }
        Assert.Equal(1, lane.Limit);
        // Nothing waits and the receiver answers: back to where lanes start, one step per batch.
        for (var i = 0; i < 10; i++)
        {
            await lane.WaitAsync(CancellationToken.None);
            lane.Release(LaneSignal.Settle, ceiling: 32);
        }
        Assert.Equal(4, lane.Limit);
    }

    [Fact]
    public async Task ADestinationWhoseCeilingIsTheStartNeverGrows()
    {
        var lane = new LaneConcurrency(initial: 4);
        for (var i = 0; i < 10; i++)
        {
            await lane.WaitAsync(CancellationToken.None);
            lane.Release(LaneSignal.Grow, ceiling: 4);
        }
        Assert.Equal(4, lane.Limit);
    }

    [Fact]
    public async Task ABatchWaitsForRoomAndStartsWhenOneEnds()
    {
        var lane = new LaneConcurrency(initial: 2);
        await lane.WaitAsync(CancellationToken.None);
        await lane.WaitAsync(CancellationToken.None);
        var third = lane.WaitAsync(CancellationToken.None);
        await Task.Delay(100);
        Assert.False(third.IsCompleted);

        // A retry halves the limit to one: with one still in flight the third must go on waiting.
        lane.Release(LaneSignal.Shrink, ceiling: 32);
        await Task.Delay(100);
        Assert.False(third.IsCompleted);
        lane.Release(LaneSignal.Settle, ceiling: 32);
        await third.WaitAsync(Patience);
    }

    /// <summary>
    /// Issue 15: with 4 batches at once a webhook lane delivered ~28,000 events/s whatever the doors took. A receiver
    /// that answers in 100 ms and a backlog: the lane sends more batches at once than it starts with, and when the
    /// receiver starts answering 503 it sends fewer again.
    /// </summary>
    [Fact]
    public async Task AWebhookLaneSendsMoreBatchesAtOnceWhileBehindAndFewerWhenTheReceiverFails()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var inFlight = 0;
        var mostAtOnce = 0;
        var failing = false;
        var mostAtOnceWhileFailing = 0;
        receiver.Respond = async (context, _) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref mostAtOnce, now);
            if (Volatile.Read(ref failing))
            {
                InterlockedMax(ref mostAtOnceWhileFailing, now);
            }
            await Task.Delay(100);
            Interlocked.Decrement(ref inFlight);
            context.Response.StatusCode = Volatile.Read(ref failing) ? 503 : 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Worker:WebhookBatchSize"] = "10",
            ["Worker:WebhookLinger"] = "00:00:00.050",
            ["Worker:MaxConcurrentBatchesPerPipeline"] = "4",
            ["Worker:MaxConcurrentWebhookBatches"] = "16",
            ["Worker:RetrySchedule:0"] = "01:00:00",
        });

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await scenario.EnqueueManyAsync(entries: 600, eventsPerEntry: 10);
        output.WriteLine($"enqueued {clock.Elapsed}");
        await receiver.WaitUntilAsync(_ => Volatile.Read(ref mostAtOnce) >= 12, Patience, "more than the 4 batches a lane starts with at once");
        output.WriteLine($"grown {clock.Elapsed} requests {receiver.Received.Count}");
        Assert.InRange(Volatile.Read(ref mostAtOnce), 12, 16);

        // Failing from now on: each 503 halves the lane. After the batches already in flight, at most two at once.
        Volatile.Write(ref failing, true);
        var failedFrom = receiver.Received.Count;
        await receiver.WaitUntilAsync(r => r.Received.Count >= failedFrom + 30, Patience, "30 more requests, answered 503");
        Volatile.Write(ref mostAtOnceWhileFailing, 0);
        var quietFrom = receiver.Received.Count;
        await receiver.WaitUntilAsync(r => r.Received.Count >= quietFrom + 10, Patience, "10 more requests");
        output.WriteLine($"end {clock.Elapsed}");
        Assert.InRange(Volatile.Read(ref mostAtOnceWhileFailing), 1, 2);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen)
            {
                return;
            }
            seen = was;
        }
    }
}
