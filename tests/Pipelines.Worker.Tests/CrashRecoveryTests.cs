using Beacon.Core.Queue;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

/// <summary>Workers as real OS processes: killed with SIGKILL, and two sharing one stream.</summary>
public sealed class CrashRecoveryTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task EntriesOfAWorkerKilledMidBatchAreDeliveredByAnotherWorker()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var slow = true;
        receiver.Respond = async (context, _) =>
        {
            if (slow)
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
            context.Response.StatusCode = 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var settings = new Dictionary<string, string?>
        {
            ["Worker:WebhookBatchSize"] = "10",
            ["Worker:MaxConcurrentBatchesPerPipeline"] = "1",
            ["Worker:MaxConcurrentWebhookBatches"] = "1",
            ["Worker:ClaimMinIdle"] = "00:00:02",
        };
        var first = await scenario.StartWorkerProcessAsync(settings);
        var sent = await scenario.EnqueueManyAsync(entries: 30, eventsPerEntry: 5);

        await receiver.WaitUntilAsync(r => r.Received.Count >= 2, TimeSpan.FromSeconds(20), "the first worker in the middle of delivering");
        await first.KillAsync();
        var pending = await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, "pipelines");
        Assert.True(pending.PendingMessageCount > 0, "the killed worker left unacked entries");
        Assert.True(receiver.AcceptedEventIds.Count < sent.Count, "the killed worker had not delivered everything");

        slow = false;
        await scenario.StartWorkerProcessAsync(settings);

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == sent.Count, TimeSpan.FromSeconds(40),
            $"all {sent.Count} events delivered after the kill");
        Assert.Equal(sent.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Distinct().Order());
        await Eventually.WaitAsync(async () =>
            (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, "pipelines")).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked");
    }

    [Fact]
    public async Task TwoWorkersShareTheStreamAndDeliverEveryEventExactlyOnce()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = async (context, _) =>
        {
            await Task.Delay(20);
            context.Response.StatusCode = 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var settings = new Dictionary<string, string?> { ["Worker:ClaimMinIdle"] = "00:01:00", ["Worker:ReadCount"] = "10" };
        await scenario.StartWorkerProcessAsync(settings);
        await scenario.StartWorkerProcessAsync(settings);

        var sent = await scenario.EnqueueManyAsync(entries: 200, eventsPerEntry: 5);

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= sent.Count, TimeSpan.FromSeconds(40), $"{sent.Count} events delivered");
        await Task.Delay(500);
        Assert.Equal(sent.Count, receiver.AcceptedEventIds.Count);
        Assert.Equal(sent.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Order());
        var consumers = await scenario.Redis.GetDatabase().StreamConsumerInfoAsync(scenario.Stream, "pipelines");
        Assert.Equal(2, consumers.Length);
    }

    [Fact]
    public async Task AWorkerStoppedGracefullyFinishesItsInFlightBatchAndAcksNothingUndelivered()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = async (context, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            context.Response.StatusCode = 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var settings = new Dictionary<string, string?>
        {
            ["Worker:WebhookBatchSize"] = "10",
            ["Worker:MaxConcurrentBatchesPerPipeline"] = "1",
            ["Worker:MaxConcurrentWebhookBatches"] = "1",
        };
        var worker = await scenario.StartWorkerProcessAsync(settings);
        var sent = await scenario.EnqueueManyAsync(entries: 30, eventsPerEntry: 5);
        await receiver.WaitUntilAsync(r => r.Received.Count >= 1, TimeSpan.FromSeconds(20), "a batch in flight");

        ProcessReaper.Signal(worker.Pid, ProcessReaper.SigTerm);
        await ProcessReaper.WaitForExitAsync(worker.Pid, TimeSpan.FromSeconds(30));

        var db = scenario.Redis.GetDatabase();
        var group = (await db.StreamGroupInfoAsync(scenario.Stream)).Single();
        var pending = (await db.StreamPendingMessagesAsync(scenario.Stream, "pipelines", 1000, RedisValue.Null)).Select(p => p.MessageId).ToHashSet();
        var acked = (await db.StreamRangeAsync(scenario.Stream))
            .Where(e => CompareIds(e.Id, group.LastDeliveredId) <= 0 && !pending.Contains(e.Id))
            .ToList();
        // The batch that was in flight was allowed to finish and its entries were acked...
        Assert.NotEmpty(acked);
        // ...and every acked entry's events really reached the receiver.
        var ackedEventIds = acked.SelectMany(e => QueueEntries.Read(e.Values).Select(v => v.Event.EventId));
        Assert.All(ackedEventIds, id => Assert.Contains(id, receiver.AcceptedEventIds));
        Assert.True(acked.Count < 30, "the worker stopped before the stream was done");

        receiver.Respond = (context, _) => Task.CompletedTask;
        await scenario.StartWorkerProcessAsync(new Dictionary<string, string?> { ["Worker:ClaimMinIdle"] = "00:00:01" });
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == sent.Count, TimeSpan.FromSeconds(30),
            "the rest delivered by the next worker");
    }

    [Fact]
    public async Task AnEntryHeldByASlowButLiveWorkerIsNotTakenOverByAnother()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = async (context, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            context.Response.StatusCode = 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        // Entries idle for 2 s may be reclaimed; the receiver takes 5 s per request.
        var settings = new Dictionary<string, string?> { ["Worker:ClaimMinIdle"] = "00:00:02", ["Worker:ClaimInterval"] = "00:00:00.250" };
        await scenario.StartWorkerProcessAsync(settings);
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 3);
        await receiver.WaitUntilAsync(r => r.Received.Count >= 1, TimeSpan.FromSeconds(20), "the first worker delivering");
        await scenario.StartWorkerProcessAsync(settings);

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 3, TimeSpan.FromSeconds(20), "the slow delivery done");
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.Single(receiver.Received);
    }

    private static int CompareIds(RedisValue a, RedisValue b)
    {
        static (long Ms, long Seq) Parse(RedisValue id)
        {
            var parts = id.ToString().Split('-');
            return (long.Parse(parts[0]), long.Parse(parts[1]));
        }
        return Parse(a).CompareTo(Parse(b));
    }

    [Fact]
    public async Task EntriesReadButNotYetDispatchedAreKeptFromAnotherWorkersReclaim()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var first = 1;
        receiver.Respond = async (context, _) =>
        {
            // The first batch hangs well past the claim idle time; the reader waits for in-flight room meanwhile.
            if (Interlocked.Exchange(ref first, 0) == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(7));
            }
            context.Response.StatusCode = 200;
        };
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var sent = await scenario.EnqueueManyAsync(entries: 4, eventsPerEntry: 1);
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:MaxInFlightEntries"] = "1" });
        await receiver.WaitUntilAsync(r => r.Received.Count >= 1, TimeSpan.FromSeconds(10), "the first batch hanging");

        // A second worker that takes over whatever looks abandoned for 3 s.
        scenario.StartWorker();

        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Distinct().Count() == sent.Count, TimeSpan.FromSeconds(30),
            $"all {sent.Count} events delivered");
        await Eventually.WaitAsync(async () =>
            (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, "pipelines")).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "every entry acked");
        // Time for the first worker to go on with the rest of its read batch, had it still thought it its own.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(sent.Count, receiver.AcceptedEventIds.Count);
    }
}
