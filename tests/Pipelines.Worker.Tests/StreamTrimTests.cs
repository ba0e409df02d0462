using Beacon.TestHost;
using Beacon.Worker.Consuming;
using Beacon.Worker.Tests.Infrastructure;
using StackExchange.Redis;

namespace Beacon.Worker.Tests;

public sealed class StreamTrimTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task TheStreamIsTrimmedOnlyBelowTheOldestEntryTheGroupHasNotAcked()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var db = scenario.Redis.GetDatabase();
        await Beacon.Worker.Consuming.StreamConsumer.EnsureGroupsAsync(db, [scenario.Stream], CancellationToken.None);
        var ids = new List<RedisValue>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await scenario.EnqueueAsync([scenario.NewEvent()]));
        }
        var read = await db.StreamReadGroupAsync(scenario.Stream, "pipelines", "test-consumer", ">", 6);
        Assert.Equal(6, read.Length);
        // Acked: 0, 1, 3. Pending: 2, 4, 5. Never read: 6..9.
        await db.StreamAcknowledgeAsync(scenario.Stream, "pipelines", [ids[0], ids[1], ids[3]]);

        var (lag, pending) = await StreamTrimmer.TrimAsync(db, scenario.Stream);

        var left = (await db.StreamRangeAsync(scenario.Stream)).Select(e => e.Id).ToList();
        Assert.Equal(ids.Skip(2), left);
        Assert.Equal(3, pending);
        Assert.Equal(7, lag);

        await db.StreamAcknowledgeAsync(scenario.Stream, "pipelines", [ids[2], ids[4], ids[5]]);
        (lag, pending) = await StreamTrimmer.TrimAsync(db, scenario.Stream);
        left = (await db.StreamRangeAsync(scenario.Stream)).Select(e => e.Id).ToList();
        // Nothing pending: everything below the last entry handed to the group goes; unread entries stay.
        Assert.Equal(ids.Skip(5), left);
        Assert.Equal(0, pending);
        Assert.Equal(4, lag);
    }
}
