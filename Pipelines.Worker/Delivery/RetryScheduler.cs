using System.Collections.Concurrent;
using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Beacon.Protos.Queue;
using Beacon.Worker.Routing;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery;

/// <summary>
/// Delivers parked batches when they are due. A batch is leased (<c>leased_until</c>) with
/// <c>FOR UPDATE SKIP LOCKED</c>, so several workers share the work and a crashed worker's lease simply
/// runs out. At most <see cref="WorkerOptions.MaxConcurrentBatchesPerPipeline"/> batches of one pipeline are in
/// flight, so a hanging destination cannot take every slot.
/// </summary>
public sealed class RetryScheduler(
    NpgsqlDataSource dataSource,
    PipelineCache pipelines,
    PipelineLanes lanes,
    DeliveryOutcomes outcomes,
    DeletionDrops deletionDrops,
    WorkerMetrics metrics,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<RetryScheduler> logger) : BackgroundService
{
    private const string LeaseSql = """
        UPDATE retry_batches SET leased_until = $3
        WHERE id IN (
            SELECT id FROM retry_batches
            WHERE next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until < $1) AND NOT (pipeline_id = ANY($4))
            ORDER BY next_attempt_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED)
        RETURNING id, pipeline_id, store_id, payload, event_count, attempts, next_attempt_at, first_failed_at
        """;

    private readonly ConcurrentDictionary<Guid, int> _busyPipelines = new();
    private int _inFlight;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var running = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                running.RemoveAll(t => t.IsCompleted);
                var free = settings.MaxConcurrentRetries - Volatile.Read(ref _inFlight);
                var leased = free > 0 ? await LeaseAsync(free, stoppingToken) : [];
                foreach (var batch in leased)
                {
                    Interlocked.Increment(ref _inFlight);
                    _busyPipelines.AddOrUpdate(batch.PipelineId, 1, (_, n) => n + 1);
                    running.Add(Task.Run(() => AttemptAsync(batch), CancellationToken.None));
                }
                if (leased.Count < free || free <= 0)
                {
                    await Task.Delay(settings.RetryPollInterval, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Attempts in flight finish (bounded by the delivery timeout); their leases would expire anyway.
        await Task.WhenAll(running);
    }

    private async Task<List<RetryBatch>> LeaseAsync(int limit, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var busy = _busyPipelines.Where(p => p.Value >= settings.MaxConcurrentBatchesPerPipeline).Select(p => p.Key).ToArray();
        try
        {
            await using var command = dataSource.CreateCommand(LeaseSql);
            command.Parameters.Add(new() { Value = now });
            command.Parameters.Add(new() { Value = limit });
            command.Parameters.Add(new() { Value = now + settings.RetryLease });
            command.Parameters.Add(new() { Value = busy });
            await using var reader = await command.ExecuteReaderAsync(stoppingToken);
            var batches = new List<RetryBatch>();
            while (await reader.ReadAsync(stoppingToken))
            {
                batches.Add(new RetryBatch
                {
                    Id = reader.GetGuid(0),
                    PipelineId = reader.GetGuid(1),
                    StoreId = reader.GetGuid(2),
                    Payload = reader.GetFieldValue<byte[]>(3),
                    EventCount = reader.GetInt32(4),
                    Attempts = reader.GetInt32(5),
                    NextAttemptAt = reader.GetFieldValue<DateTimeOffset>(6),
                    FirstFailedAt = reader.GetFieldValue<DateTimeOffset>(7),
                });
            }
            return batches;
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning(ex, "Could not lease due retry batches");
            return [];
        }
    }

    private async Task AttemptAsync(RetryBatch batch)
    {
        try
        {
            var pipeline = await pipelines.FindAsync(batch.PipelineId, CancellationToken.None);
            if (pipeline is null)
            {
                return; // deleted: its batches went with it (cascade)
            }
            if (!pipeline.Enabled || !lanes.Knows(pipeline.Kind))
            {
                // Kept for when the pipeline is enabled again.
                await PostponeAsync(batch, TimeSpan.FromMinutes(1));
                return;
            }
            IReadOnlyList<EnrichedEvent> events;
            try
            {
                events = RetryBatchPayload.Read(batch.Payload);
            }
            catch (InvalidProtocolBufferException ex)
            {
                await DiscardUnparseableAsync(batch, pipeline, ex);
                return;
            }
            // Admin.Web's deletion runner removes a deletion's events from parked batches, but not from one leased here.
            events = deletionDrops.Filter(batch.StoreId, (await pipelines.ForStoreAsync(batch.StoreId, CancellationToken.None)).Deletions, events);
            if (events.Count == 0)
            {
                await DeleteAsync(batch);
                return;
            }
            var result = await lanes.DestinationOf(pipeline).DeliverAsync(pipeline, batch.Id, events, CancellationToken.None);
            await outcomes.AfterRetryAttemptAsync(batch, pipeline, events, result, CancellationToken.None);
        }
        catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or InvalidOperationException or InvalidProtocolBufferException or TimeoutException)
        {
            // The lease runs out and the batch is attempted again.
            logger.LogError(ex, "Retry of batch {BatchId} of pipeline {PipelineId} could not be recorded", batch.Id, batch.PipelineId);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _busyPipelines.AddOrUpdate(batch.PipelineId, 0, (_, n) => Math.Max(0, n - 1));
        }
    }

    /// <summary>
    /// A payload that cannot be read never will be: leasing it again would retry it forever. It cannot become dead
    /// letters either (each holds one readable event, which replay parses), so it is dropped and logged with its
    /// raw bytes for a manual look.
    /// </summary>
    private async Task DiscardUnparseableAsync(RetryBatch batch, Pipeline pipeline, InvalidProtocolBufferException error)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM retry_batches WHERE id = $1");
        command.Parameters.Add(new() { Value = batch.Id });
        // A slow attempt may outlive its lease and meet a second one: only the attempt that deleted it reports it.
        if (await command.ExecuteNonQueryAsync() == 0)
        {
            return;
        }
        logger.LogError(error,
            "Parked batch {BatchId} of pipeline {PipelineId} ({EventCount} events) cannot be read and is dropped; payload (base64): {Payload}",
            batch.Id, batch.PipelineId, batch.EventCount, Convert.ToBase64String(batch.Payload));
        metrics.UnparseableBatch(pipeline.Kind);
    }

    private async Task DeleteAsync(RetryBatch batch)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM retry_batches WHERE id = $1");
        command.Parameters.Add(new() { Value = batch.Id });
        await command.ExecuteNonQueryAsync();
    }

    private async Task PostponeAsync(RetryBatch batch, TimeSpan delay)
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE retry_batches SET leased_until = NULL, next_attempt_at = $2 WHERE id = $1");
        command.Parameters.Add(new() { Value = batch.Id });
        command.Parameters.Add(new() { Value = time.GetUtcNow() + delay });
        await command.ExecuteNonQueryAsync();
    }
}
