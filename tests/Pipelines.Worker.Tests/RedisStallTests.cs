using System.Globalization;
using Beacon.Core.Queue;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

/// <summary>
/// Redis stalled (SIGSTOP) long enough for StackExchange.Redis to drop the socket as dead: the worker process (a real
/// one, as deployed) must ride it out and go on reading, not stop.
/// </summary>
public sealed class RedisStallTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    private const int SigStop = 19;
    private const int SigCont = 18;

    [Fact]
    public async Task AfterRedisStopsAnsweringFor30SecondsTheWorkerResumesByItself()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var redis = scenario.Own(await RedisServer.StartAsync());
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        var worker = await scenario.StartWorkerProcessAsync(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = redis.ConnectionString });
        using var queue = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        async Task<List<string>> EnqueueAsync(int entries)
        {
            var ids = new List<string>();
            for (var i = 0; i < entries; i++)
            {
                var events = Enumerable.Range(0, 2).Select(_ => scenario.NewEvent()).ToList();
                await queue.GetDatabase().StreamAddAsync(QueueKeys.Stream(0), QueueEntries.Fields(events));
                ids.AddRange(events.Select(e => e.Event.EventId));
            }
            return ids;
        }
        var before = await EnqueueAsync(3);
        await receiver.WaitUntilAsync(r => before.All(r.AcceptedEventIds.Contains), TimeSpan.FromSeconds(60), "delivered before the stall");

        var pid = int.Parse(((string)(await queue.GetServers()[0].ExecuteAsync("INFO", "server"))!)
            .Split('\n').First(l => l.StartsWith("process_id:", StringComparison.Ordinal))[11..].Trim(), CultureInfo.InvariantCulture);
        ProcessReaper.Signal(pid, SigStop);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30));
        }
        finally
        {
            ProcessReaper.Signal(pid, SigCont);
        }
        // The test's own client saw the same stall: its calls in flight when it dropped the socket are cancelled, and it
        // reconnects by itself. Only once it answers again is the worker's part tested.
        await Eventually.WaitAsync(async () =>
        {
            try
            {
                await queue.GetDatabase().PingAsync();
                return true;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the test's Redis client answering again after the stall");
        var after = await EnqueueAsync(3);
        try
        {
            await receiver.WaitUntilAsync(r => after.All(r.AcceptedEventIds.Contains), TimeSpan.FromSeconds(90), "delivered after the stall");
        }
        catch (Exception failure)
        {
            var output = worker.Output;
            throw new InvalidOperationException($"{failure.Message}; worker output: {output[Math.Max(0, output.Length - 6000)..]}", failure);
        }
    }
}
