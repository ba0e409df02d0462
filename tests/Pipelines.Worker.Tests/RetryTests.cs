using Beacon.Core.Data;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;

namespace Beacon.Worker.Tests;

public sealed class RetryTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    private static readonly TimeSpan[] SvixSchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    [Fact]
    public async Task AFailingBatchIsRetriedOnTheSvixScheduleWithJitterThenDeadLettered()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = 503;
            return context.Response.WriteAsync("down for maintenance");
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        scenario.StartWorker(time: clock);

        var events = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 3);
        await receiver.WaitUntilAsync(r => r.Received.Count == 1, TimeSpan.FromSeconds(20), "the first, immediate attempt");

        for (var attempt = 1; attempt <= SvixSchedule.Length; attempt++)
        {
            var batch = await WaitForParkedAsync(scenario, pipeline, attempts: attempt);
            var delay = batch.NextAttemptAt - clock.GetUtcNow();
            var planned = SvixSchedule[attempt - 1];
            Assert.InRange(delay, planned * 0.8 - TimeSpan.FromSeconds(1), planned * 1.2);
            Assert.Equal(503, batch.LastStatus);

            // Just before the due time nothing happens...
            clock.Advance(delay - TimeSpan.FromSeconds(1));
            await Task.Delay(400);
            Assert.Equal(attempt, receiver.Received.Count);
            // ...and once it is due the next attempt goes out.
            clock.Advance(TimeSpan.FromSeconds(2));
            await receiver.WaitUntilAsync(r => r.Received.Count == attempt + 1, TimeSpan.FromSeconds(10), $"attempt {attempt + 1}");
        }

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id) == 3;
        }, TimeSpan.FromSeconds(10), "three dead letters after the eighth attempt");
        await using (var db = scenario.CreateDbContext())
        {
            Assert.False(await db.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id));
            var dead = await db.DeadLetters.Where(d => d.PipelineId == pipeline.Id).ToListAsync();
            Assert.All(dead, d =>
            {
                Assert.Equal(8, d.Attempts);
                Assert.Equal(503, d.LastStatus);
                Assert.Equal("down for maintenance", d.ResponseExcerpt);
            });
            Assert.Equal(events.Select(e => e.Event.EventId).Order(), dead.Select(d => d.EventId).Order());
        }
        // Every attempt of the batch carries the same webhook-id, so the receiver can drop repeats.
        Assert.Single(receiver.Received.Select(r => r.Id).Distinct());
        Assert.Equal(8, receiver.Received.Count);
    }

    [Fact]
    public async Task ATooManyRequestsAnswerIsRetriedAfterItsRetryAfterAndThenDelivered()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = (context, _) =>
        {
            if (receiver.Received.Count == 1)
            {
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "120";
            }
            return Task.CompletedTask;
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        scenario.StartWorker(time: clock);

        var events = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);
        var batch = await WaitForParkedAsync(scenario, pipeline, attempts: 1);
        // Retry-After (120 s) wins over the 5 s of the schedule.
        Assert.InRange(batch.NextAttemptAt - clock.GetUtcNow(), TimeSpan.FromSeconds(119), TimeSpan.FromSeconds(121));
        Assert.Equal(429, batch.LastStatus);

        clock.Advance(TimeSpan.FromSeconds(60));
        await Task.Delay(500);
        Assert.Single(receiver.Received);

        clock.Advance(TimeSpan.FromSeconds(61));
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count == 2, TimeSpan.FromSeconds(10), "the retry after Retry-After");
        Assert.Equal(events.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Order());
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return !await db.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id)
                && await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && p.FailingSince == null);
        }, TimeSpan.FromSeconds(10), "the parked batch removed and the pipeline healthy again");
    }

    [Fact]
    public async Task APipelineFailingForFiveDaysIsDisabledWithAReason()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        scenario.StartWorker(time: clock);

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && p.FailingSince != null);
        }, TimeSpan.FromSeconds(15), "the pipeline marked as failing");
        clock.Advance(TimeSpan.FromDays(5) + TimeSpan.FromMinutes(1));
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && !p.Enabled);
        }, TimeSpan.FromSeconds(15), "the pipeline disabled");
        await using var check = scenario.CreateDbContext();
        var row = await check.Pipelines.SingleAsync(p => p.Id == pipeline.Id);
        Assert.StartsWith("Disabled automatically", row.DisabledReason);
    }

    [Fact]
    public async Task APipelineReEnabledByAdminIsStillDisabledAfterFiveMoreDaysOfFailures()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        receiver.Respond = (context, _) =>
        {
            context.Response.StatusCode = 500;
            return Task.CompletedTask;
        };
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        scenario.StartWorker(time: clock);
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && p.FailingSince != null);
        }, TimeSpan.FromSeconds(15), "the pipeline marked as failing");

        // What Admin does when an operator re-enables the pipeline: the failure clock starts over.
        await using (var db = scenario.CreateDbContext())
        {
            await db.Pipelines.Where(p => p.Id == pipeline.Id)
                .ExecuteUpdateAsync(set => set.SetProperty(p => p.FailingSince, (DateTimeOffset?)null));
        }
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && p.FailingSince != null);
        }, TimeSpan.FromSeconds(15), "the pipeline marked as failing again after the reset");

        clock.Advance(TimeSpan.FromDays(5) + TimeSpan.FromMinutes(1));
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.Pipelines.AnyAsync(p => p.Id == pipeline.Id && !p.Enabled);
        }, TimeSpan.FromSeconds(15), "the pipeline disabled");
    }

    [Fact]
    public async Task AParkedBatchWhosePayloadCannotBeReadIsDroppedInsteadOfRetriedForever()
    {
        var dropped = 0L;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Beacon" && instrument.Name == "beacon.worker.retry_batches.unparseable")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref dropped, value));
        listener.Start();
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        var garbage = new RetryBatch
        {
            PipelineId = pipeline.Id,
            StoreId = scenario.StoreId,
            Payload = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
            EventCount = 3,
            Attempts = 1,
            NextAttemptAt = DateTimeOffset.UtcNow.AddSeconds(-1),
        };
        await using (var db = scenario.CreateDbContext())
        {
            db.RetryBatches.Add(garbage);
            await db.SaveChangesAsync();
        }

        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:RetryLease"] = "00:00:01" });

        // The worker deletes the row first and counts it after: wait for both, then check it was counted once.
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return !await db.RetryBatches.AnyAsync(r => r.Id == garbage.Id) && Interlocked.Read(ref dropped) > 0;
        }, TimeSpan.FromSeconds(30), "the unreadable batch dropped and counted");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, Interlocked.Read(ref dropped));
        Assert.Empty(receiver.Received);
    }

    private static async Task<RetryBatch> WaitForParkedAsync(Scenario scenario, Pipeline pipeline, int attempts)
    {
        RetryBatch? batch = null;
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            batch = await db.RetryBatches.AsNoTracking()
                .FirstOrDefaultAsync(r => r.PipelineId == pipeline.Id && r.Attempts == attempts && r.LeasedUntil == null);
            return batch is not null;
        }, TimeSpan.FromSeconds(20), $"a parked batch after {attempts} attempts");
        return batch!;
    }
}
