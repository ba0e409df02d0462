using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Beacon.Protos.Queue;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Beacon.Core.DeadLetters;

/// <summary>
/// Replays or discards a pipeline's dead letters (DESIGN §4). Replay puts the envelopes back as retry batches
/// due now (at most <see cref="MaxEventsPerBatch"/> events each) and deletes the dead letters in the same
/// transaction, so an event is either still a dead letter or queued again, never both or neither; the worker's
/// retry scheduler then delivers them. Two replays of the same dead letters at once queue them once.
/// </summary>
public sealed class DeadLetterService(BeaconDbContext db, TimeProvider time)
{
    public const int MaxEventsPerBatch = 100;
    private const int PageSize = 1000;

    /// <summary>Replays the given dead letters of the pipeline; ids of other pipelines are ignored. Returns how many were replayed.</summary>
    public Task<int> ReplayAsync(Guid pipelineId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        ReplayWhereAsync(pipelineId, "id = ANY($2)", [new NpgsqlParameter { Value = ids.ToArray() }], cancellationToken);

    /// <summary>Replays the pipeline's dead letters created in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public Task<int> ReplayRangeAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        ReplayWhereAsync(pipelineId, "created_at >= $2 AND created_at < $3",
            [new NpgsqlParameter { Value = from }, new NpgsqlParameter { Value = to }], cancellationToken);

    /// <summary>Deletes the given dead letters of the pipeline. Returns how many were deleted.</summary>
    public Task<int> DiscardAsync(Guid pipelineId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        db.DeadLetters.Where(d => d.PipelineId == pipelineId && ids.Contains(d.Id)).ExecuteDeleteAsync(cancellationToken);

    /// <summary>Deletes the pipeline's dead letters created in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public Task<int> DiscardRangeAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        db.DeadLetters.Where(d => d.PipelineId == pipelineId && d.CreatedAt >= from && d.CreatedAt < to)
            .ExecuteDeleteAsync(cancellationToken);

    // Runs under the context's execution strategy, so a host that enables retry-on-failure can still call it.
    private Task<int> ReplayWhereAsync(Guid pipelineId, string condition, NpgsqlParameter[] parameters, CancellationToken cancellationToken) =>
        db.Database.CreateExecutionStrategy().ExecuteAsync(() => ReplayOnceAsync(pipelineId, condition, parameters, cancellationToken));

    private async Task<int> ReplayOnceAsync(
        Guid pipelineId, string condition, NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        // Page by page: delete the dead letters (SKIP LOCKED: rows another replay holds are its own) and queue
        // their envelopes again, all in one transaction.
        var sql = $"""
            DELETE FROM dead_letters WHERE id IN (
                SELECT id FROM dead_letters WHERE pipeline_id = $1 AND {condition}
                ORDER BY id LIMIT {PageSize} FOR UPDATE SKIP LOCKED)
            RETURNING store_id, envelope
            """;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        var now = time.GetUtcNow();
        var replayed = 0;
        while (true)
        {
            var rows = new List<(Guid StoreId, byte[] Envelope)>();
            await using (var command = new NpgsqlCommand(sql, connection, (NpgsqlTransaction)transaction.GetDbTransaction()))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
                foreach (var parameter in parameters)
                {
                    command.Parameters.Add(parameter.Clone());
                }
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    rows.Add((reader.GetGuid(0), reader.GetFieldValue<byte[]>(1)));
                }
            }
            if (rows.Count == 0)
            {
                break;
            }
            foreach (var group in rows.GroupBy(r => r.StoreId))
            {
                foreach (var chunk in group.Chunk(MaxEventsPerBatch))
                {
                    db.RetryBatches.Add(new RetryBatch
                    {
                        PipelineId = pipelineId,
                        StoreId = group.Key,
                        Payload = RetryBatchPayload.Of(chunk.Select(r => EnrichedEvent.Parser.ParseFrom(r.Envelope))),
                        EventCount = chunk.Length,
                        Attempts = 0,
                        NextAttemptAt = now,
                        FirstFailedAt = now,
                    });
                }
            }
            await db.SaveChangesAsync(cancellationToken);
            db.ChangeTracker.Clear();
            replayed += rows.Count;
        }
        await transaction.CommitAsync(cancellationToken);
        return replayed;
    }
}
