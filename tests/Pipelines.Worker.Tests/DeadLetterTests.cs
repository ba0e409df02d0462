using Beacon.Core.DeadLetters;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Tests;

public sealed class DeadLetterTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Theory]
    [InlineData(410)]
    [InlineData(400)]
    public async Task AnAnswerThatIsNotWorthRetryingDeadLettersTheEventsAtOnce(int status)
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var longAnswer = new string('x', 5000);
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = status;
            return context.Response.WriteAsync(longAnswer);
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker();

        var events = await scenario.EnqueueManyAsync(entries: 2, eventsPerEntry: 2);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id) == 4;
        }, TimeSpan.FromSeconds(20), "four dead letters");

        await using var check = scenario.CreateDbContext();
        var dead = await check.DeadLetters.Where(d => d.PipelineId == pipeline.Id).ToListAsync();
        Assert.All(dead, d =>
        {
            Assert.Equal(status, d.LastStatus);
            Assert.Equal(1, d.Attempts);
            Assert.Equal(1024, d.ResponseExcerpt!.Length);
            Assert.Contains(status.ToString(), d.LastError);
        });
        Assert.Equal(events.Select(e => e.Event.EventId).Order(), dead.Select(d => d.EventId).Order());
        Assert.False(await check.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id));
        // Dead-lettered counts as done for the stream: the entries are acked.
        await Eventually.WaitAsync(async () =>
            (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, "pipelines")).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "both entries acked");
    }

    [Fact]
    public async Task ReplayedDeadLettersAreDeliveredAgainAndDiscardedOnesAreGone()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var accepting = false;
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = accepting ? 200 : 410;
            return Task.CompletedTask;
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var worker = scenario.StartWorker();

        var events = await scenario.EnqueueManyAsync(entries: 5, eventsPerEntry: 2);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id) == 10;
        }, TimeSpan.FromSeconds(20), "ten dead letters");
        accepting = true;

        await using var db = scenario.CreateDbContext();
        var ids = await db.DeadLetters.Where(d => d.PipelineId == pipeline.Id).OrderBy(d => d.Id).Select(d => new { d.Id, d.EventId }).ToListAsync();
        var service = new DeadLetterService(db, TimeProvider.System);

        // One, then a selection, then a time range (the rest), then discard on an empty set.
        Assert.Equal(1, await service.ReplayAsync(pipeline.Id, [ids[0].Id], CancellationToken.None));
        Assert.Equal(3, await service.ReplayAsync(pipeline.Id, ids.Skip(1).Take(3).Select(i => i.Id).ToList(), CancellationToken.None));
        Assert.Equal(0, await service.ReplayAsync(Guid.NewGuid(), ids.Select(i => i.Id).ToList(), CancellationToken.None));
        var discarded = ids[^1];
        Assert.Equal(1, await service.DiscardAsync(pipeline.Id, [discarded.Id], CancellationToken.None));
        Assert.Equal(5, await service.ReplayRangeAsync(pipeline.Id, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1), CancellationToken.None));

        var expected = ids.Take(9).Select(i => i.EventId).Order().ToList();
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 9, TimeSpan.FromSeconds(20), "nine replayed events delivered");
        Assert.Equal(expected, receiver.AcceptedEventIds.Order());
        Assert.False(await db.DeadLetters.AnyAsync(d => d.PipelineId == pipeline.Id));
        Assert.DoesNotContain(discarded.EventId, receiver.AcceptedEventIds);
        Assert.Equal(events.Count, ids.Count);
    }

    [Fact]
    public async Task AReplayOfATimeRangeFindsItsDeadLettersBehindThousandsOfOlderOnes()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var pipeline = await scenario.AddWebhookPipelineAsync("http://127.0.0.1:9/none");
        var now = DateTimeOffset.UtcNow;
        await using (var seed = scenario.CreateDbContext())
        {
            seed.DeadLetters.AddRange(Enumerable.Range(0, 1500).Select(i => DeadLetterOf(scenario, pipeline.Id, now.AddDays(-2))));
            seed.DeadLetters.AddRange(Enumerable.Range(0, 250).Select(i => DeadLetterOf(scenario, pipeline.Id, now.AddMinutes(-5))));
            await seed.SaveChangesAsync();
        }
        await using var db = scenario.CreateDbContext();
        var service = new DeadLetterService(db, TimeProvider.System);

        var replayed = await service.ReplayRangeAsync(pipeline.Id, now.AddHours(-1), now, CancellationToken.None);

        Assert.Equal(250, replayed);
        Assert.Equal(1500, await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id));
        var batches = await db.RetryBatches.Where(r => r.PipelineId == pipeline.Id).ToListAsync();
        Assert.Equal(250, batches.Sum(b => b.EventCount));
        Assert.All(batches, b => Assert.InRange(b.EventCount, 1, 100));
        Assert.Equal(1500, await service.DiscardRangeAsync(pipeline.Id, now.AddDays(-3), now.AddDays(-1), CancellationToken.None));
    }

    private static Beacon.Core.Data.DeadLetter DeadLetterOf(Scenario scenario, Guid pipelineId, DateTimeOffset createdAt)
    {
        var envelope = scenario.NewEvent();
        return new Beacon.Core.Data.DeadLetter
        {
            PipelineId = pipelineId,
            StoreId = scenario.StoreId,
            EventId = envelope.Event.EventId,
            EventType = envelope.Event.EventType,
            Envelope = Google.Protobuf.MessageExtensions.ToByteArray(envelope),
            Attempts = 8,
            LastStatus = 503,
            CreatedAt = createdAt,
        };
    }
}
