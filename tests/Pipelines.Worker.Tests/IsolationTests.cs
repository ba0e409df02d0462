using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;

namespace Beacon.Worker.Tests;

public sealed class IsolationTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task AReceiverThatHangsDoesNotSlowAnotherPipeline()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var hanging = scenario.Own(await WebhookReceiver.StartAsync());
        var release = new TaskCompletionSource();
        hanging.Respond = async (_, _) => await release.Task;
        var healthy = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(hanging.Url);
        await scenario.AddWebhookPipelineAsync(healthy.Url);
        // A small lane so the hanging pipeline overflows into Postgres during the test.
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:LaneCapacity"] = "20" });

        try
        {
            await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 5);
            await hanging.WaitUntilAsync(r => r.Received.Count >= 1, TimeSpan.FromSeconds(10), "the hanging receiver holding a request");

            var started = DateTime.UtcNow;
            var events = await scenario.EnqueueManyAsync(entries: 200, eventsPerEntry: 5);
            // The hanging receiver holds its request for the worker's whole 15 s delivery timeout; the other
            // pipeline must be done well within it, not after it.
            await healthy.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1005, TimeSpan.FromSeconds(12), "every event at the healthy receiver");
            var took = DateTime.UtcNow - started;
            Assert.True(took < TimeSpan.FromSeconds(12), $"healthy pipeline took {took.TotalSeconds:0.0} s");
            Assert.All(hanging.Received, r => Assert.NotEmpty(r.EventIds));
            Assert.Equal(1005, healthy.AcceptedEventIds.Distinct().Count());
        }
        finally
        {
            release.TrySetResult();
        }
    }
}
