using Beacon.Core.Data;
using Beacon.Protos.V1;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.DeadLetters;

/// <summary>
/// Replays or discards a pipeline's dead letters (DESIGN §4). Replay puts the envelopes back as retry batches
/// due now (at most <see cref="MaxEventsPerBatch"/> events each) and deletes the dead letters in the same
/// transaction, so an event is either still a dead letter or queued again, never both or neither; the worker's
/// retry scheduler then delivers them.
/// </summary>
public sealed class DeadLetterService(BeaconDbContext db, TimeProvider time)
{
    public const int MaxEventsPerBatch = 100;
    private const int PageSize = 1000;

    /// <summary>Replays the given dead letters of the pipeline; ids of other pipelines are ignored. Returns how many were replayed.</summary>
    public Task<int> ReplayAsync(Guid pipelineId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        ReplayWhereAsync(pipelineId, d => ids.Contains(d.Id), cancellationToken);

    /// <summary>Replays the pipeline's dead letters created in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public Task<int> ReplayRangeAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        ReplayWhereAsync(pipelineId, d => d.CreatedAt >= from && d.CreatedAt < to, cancellationToken);

    /// <summary>Deletes the given dead letters of the pipeline. Returns how many were deleted.</summary>
    public Task<int> DiscardAsync(Guid pipelineId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        db.DeadLetters.Where(d => d.PipelineId == pipelineId && ids.Contains(d.Id)).ExecuteDeleteAsync(cancellationToken);

    /// <summary>Deletes the pipeline's dead letters created in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public Task<int> DiscardRangeAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        db.DeadLetters.Where(d => d.PipelineId == pipelineId && d.CreatedAt >= from && d.CreatedAt < to)
            .ExecuteDeleteAsync(cancellationToken);

    private async Task<int> ReplayWhereAsync(
        Guid pipelineId, System.Linq.Expressions.Expression<Func<DeadLetter, bool>> selection, CancellationToken cancellationToken)
    {
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var now = time.GetUtcNow();
            var replayed = 0;
            var afterId = 0L;
            while (true)
            {
                // FOR UPDATE keeps two operators replaying the same range from queueing the events twice.
                var page = await db.DeadLetters
                    .FromSqlInterpolated($"SELECT * FROM dead_letters WHERE pipeline_id = {pipelineId} AND id > {afterId} ORDER BY id LIMIT {PageSize} FOR UPDATE")
                    .Where(selection)
                    .ToListAsync(cancellationToken);
                if (page.Count == 0)
                {
                    break;
                }
                afterId = page[^1].Id;
                foreach (var group in page.GroupBy(d => d.StoreId))
                {
                    foreach (var chunk in group.Chunk(MaxEventsPerBatch))
                    {
                        var batch = new EnrichedEventBatch();
                        batch.Events.AddRange(chunk.Select(d => EnrichedEvent.Parser.ParseFrom(d.Envelope)));
                        db.RetryBatches.Add(new RetryBatch
                        {
                            PipelineId = pipelineId,
                            StoreId = group.Key,
                            Payload = batch.ToByteArray(),
                            EventCount = chunk.Length,
                            Attempts = 0,
                            NextAttemptAt = now,
                            FirstFailedAt = now,
                        });
                    }
                }
                db.DeadLetters.RemoveRange(page);
                await db.SaveChangesAsync(cancellationToken);
                db.ChangeTracker.Clear();
                replayed += page.Count;
            }
            await transaction.CommitAsync(cancellationToken);
            return replayed;
        });
    }
}
