using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;

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
}
