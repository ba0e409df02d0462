using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Worker.Routing;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Delivery;

/// <summary>
/// Makes the result of a delivery attempt durable: a failed batch is parked as a <see cref="RetryBatch"/> due at
/// the planned time, a final failure becomes one <see cref="DeadLetter"/> per event. Every method returns only
/// once Postgres has committed, so the caller may ack the stream entry (or drop the lease) afterwards. Events a
/// deletion reached while they were being delivered are neither parked nor dead-lettered (<see cref="DeletionDrops.FilterAsWritten"/>).
/// </summary>
public sealed class DeliveryOutcomes(
    IServiceScopeFactory scopes,
    RetryPlanner planner,
    PipelineHealth health,
    DeliveryStatsCollector stats,
    AttemptLog attemptLog,
    DeletionDrops deletionDrops,
    WorkerMetrics metrics,
    TimeProvider time,
    ILogger<DeliveryOutcomes> logger)
{
    private const int MaxErrorLength = 2000;

    /// <summary>Records the first, immediate attempt of a batch read from the stream.</summary>
    public async Task AfterFirstAttemptAsync(
        Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, DeliveryResult result, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        if (result.Outcome == DeliveryOutcome.Delivered)
        {
            attemptLog.Record(pipeline, batchId, 1, events, result, AttemptOutcomes.Delivered);
            if (result.Rejected is { Count: > 0 } rejected)
            {
                var kept = deletionDrops.FilterAsWritten(pipeline.StoreId, rejected);
                if (kept.Count > 0)
                {
                    db.DeadLetters.AddRange(DeadLettersOf(pipeline, kept, attempts: 1, result));
                    await db.SaveChangesAsync(cancellationToken);
                    RecordDeadLettered(pipeline, kept.Count, result);
                }
            }
            RecordDelivered(pipeline, events.Count - (result.Rejected?.Count ?? 0), result);
            await health.SucceededAsync(pipeline, cancellationToken);
            return;
        }
        var next = result.Outcome == DeliveryOutcome.Retry ? planner.NextAttemptAt(1, result.RetryAfter) : null;
        attemptLog.Record(pipeline, batchId, 1, events, result, next is null ? AttemptOutcomes.DeadLettered : AttemptOutcomes.Retrying);
        var failed = deletionDrops.FilterAsWritten(pipeline.StoreId, events);
        if (failed.Count > 0 && next is { } due)
        {
            db.RetryBatches.Add(NewRetryBatch(pipeline, batchId, failed, attempts: 1, due, result));
            await db.SaveChangesAsync(cancellationToken);
            RecordRetried(pipeline, failed.Count, result);
        }
        else if (failed.Count > 0)
        {
            db.DeadLetters.AddRange(DeadLettersOf(pipeline, failed, attempts: 1, result));
            await db.SaveChangesAsync(cancellationToken);
            RecordDeadLettered(pipeline, failed.Count, result);
        }
        await health.FailedAsync(pipeline, cancellationToken);
    }

    /// <summary>Parks events that were not attempted yet (their lane was full), due at once.</summary>
    public async Task ParkAsync(Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        var kept = deletionDrops.FilterAsWritten(pipeline.StoreId, events);
        if (kept.Count == 0)
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        db.RetryBatches.Add(NewRetryBatch(pipeline, batchId, kept, attempts: 0, time.GetUtcNow(), result: null));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Records an attempt of a parked batch that this worker leased.</summary>
    public async Task AfterRetryAttemptAsync(
        RetryBatch batch, Pipeline pipeline, IReadOnlyList<EnrichedEvent> events, DeliveryResult result, CancellationToken cancellationToken)
    {
        var attempts = batch.Attempts + 1;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        if (result.Outcome == DeliveryOutcome.Delivered)
        {
            attemptLog.Record(pipeline, batch.Id, attempts, events, result, AttemptOutcomes.Delivered);
            await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                if (result.Rejected is { Count: > 0 } rejected && deletionDrops.FilterAsWritten(pipeline.StoreId, rejected) is { Count: > 0 } kept)
                {
                    db.DeadLetters.AddRange(DeadLettersOf(pipeline, kept, attempts, result));
                    await db.SaveChangesAsync(cancellationToken);
                    RecordDeadLettered(pipeline, kept.Count, result);
                }
                await db.RetryBatches.Where(r => r.Id == batch.Id).ExecuteDeleteAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            RecordDelivered(pipeline, events.Count - (result.Rejected?.Count ?? 0), result);
            await health.SucceededAsync(pipeline, cancellationToken);
            return;
        }
        var next = result.Outcome == DeliveryOutcome.Retry ? planner.NextAttemptAt(attempts, result.RetryAfter) : null;
        attemptLog.Record(pipeline, batch.Id, attempts, events, result, next is null ? AttemptOutcomes.DeadLettered : AttemptOutcomes.Retrying);
        var failed = deletionDrops.FilterAsWritten(pipeline.StoreId, events);
        if (failed.Count == 0)
        {
            await db.RetryBatches.Where(r => r.Id == batch.Id).ExecuteDeleteAsync(cancellationToken);
        }
        else if (next is { } due)
        {
            var error = Truncate(result.Error);
            // The stored payload still holds what a deletion reached before or during this attempt: rewritten without it.
            var payload = failed.Count == batch.EventCount ? null : RetryBatchPayload.Of(failed);
            await db.RetryBatches.Where(r => r.Id == batch.Id).ExecuteUpdateAsync(set =>
            {
                set.SetProperty(r => r.Attempts, attempts)
                    .SetProperty(r => r.NextAttemptAt, due)
                    .SetProperty(r => r.LeasedUntil, (DateTimeOffset?)null)
                    .SetProperty(r => r.LastStatus, result.Status)
                    .SetProperty(r => r.LastError, error);
                if (payload is not null)
                {
                    set.SetProperty(r => r.Payload, payload).SetProperty(r => r.EventCount, failed.Count);
                }
            }, cancellationToken);
            RecordRetried(pipeline, failed.Count, result);
        }
        else
        {
            // The dead letters and the removal of the batch commit together: never both, never neither.
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            db.DeadLetters.AddRange(DeadLettersOf(pipeline, failed, attempts, result));
            await db.SaveChangesAsync(cancellationToken);
            await db.RetryBatches.Where(r => r.Id == batch.Id).ExecuteDeleteAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            RecordDeadLettered(pipeline, failed.Count, result);
            logger.LogWarning("Gave up on {Count} events of pipeline {PipelineId} after {Attempts} attempts: {Error}",
                failed.Count, pipeline.Id, attempts, result.Error);
        }
        await health.FailedAsync(pipeline, cancellationToken);
    }

    private RetryBatch NewRetryBatch(
        Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, int attempts, DateTimeOffset due, DeliveryResult? result)
    {
        return new RetryBatch
        {
            // The batch id is the webhook-id, so a receiver sees the same message id on every attempt.
            Id = batchId,
            PipelineId = pipeline.Id,
            StoreId = pipeline.StoreId,
            Payload = RetryBatchPayload.Of(events),
            EventCount = events.Count,
            Attempts = attempts,
            NextAttemptAt = due,
            LastStatus = result?.Status,
            LastError = Truncate(result?.Error),
            FirstFailedAt = time.GetUtcNow(),
        };
    }

    private IEnumerable<DeadLetter> DeadLettersOf(Pipeline pipeline, IReadOnlyList<EnrichedEvent> events, int attempts, DeliveryResult result)
    {
        var now = time.GetUtcNow();
        return events.Select(e => new DeadLetter
        {
            PipelineId = pipeline.Id,
            StoreId = pipeline.StoreId,
            EventId = Truncate(e.Event?.EventId ?? "", 64)!,
            EventType = Truncate(e.Event?.EventType ?? "", 64)!,
            Envelope = e.ToByteArray(),
            Attempts = attempts,
            LastStatus = result.Status,
            LastError = Truncate(result.Error),
            ResponseExcerpt = result.ResponseExcerpt,
            CreatedAt = now,
        });
    }

    private void RecordDelivered(Pipeline pipeline, int count, DeliveryResult result)
    {
        stats.Record(pipeline.Id, delivered: count, latency: result.Latency);
        metrics.Delivered(pipeline.Kind, count, result.Latency);
    }

    private void RecordRetried(Pipeline pipeline, int count, DeliveryResult result)
    {
        stats.Record(pipeline.Id, failed: count, retried: count, latency: result.Latency);
        metrics.Failed(pipeline.Kind, count);
        metrics.Retried(pipeline.Kind, count);
    }

    private void RecordDeadLettered(Pipeline pipeline, int count, DeliveryResult result)
    {
        stats.Record(pipeline.Id, failed: count, deadLettered: count, latency: result.Latency);
        metrics.Failed(pipeline.Kind, count);
        metrics.DeadLettered(pipeline.Kind, count);
    }

    private static string? Truncate(string? text, int length = MaxErrorLength) =>
        text is null || text.Length <= length ? text : text[..length];
}
