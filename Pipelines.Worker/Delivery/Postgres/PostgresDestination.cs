using System.Diagnostics;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery.Postgres;

/// <summary><c>postgres</c> pipelines: events COPY'd into the <c>events</c> table, in large batches.</summary>
public sealed class PostgresDestination(EventsWriter writer, IOptions<WorkerOptions> options) : IPipelineDestination
{
    public string Kind => PipelineKinds.Postgres;

    public int BatchSize => Math.Max(1, options.Value.PostgresBatchSize);

    public TimeSpan Linger => options.Value.PostgresLinger;

    // Each batch is a COPY on a connection of the worker's pool: more at once only queue for the table's locks.
    public int MaxConcurrentBatches => options.Value.MaxConcurrentBatchesPerPipeline;

    public async Task<DeliveryResult> DeliverAsync(
        Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var hasher = IdentifierHasher.For(pipeline);
        try
        {
            await writer.WriteAsync(pipeline.Id, hasher, events, cancellationToken);
            return new DeliveryResult(DeliveryOutcome.Delivered, Stopwatch.GetElapsedTime(started));
        }
        catch (PostgresException ex) when (IsDataError(ex))
        {
            // Data the table cannot hold will not fit on a later attempt either. One bad event must not take its
            // whole batch (up to thousands of events) to the dead letters: halve the batch until it is found.
            var rejected = new List<EnrichedEvent>();
            var error = $"{ex.SqlState}: {ex.MessageText}";
            if (events.Count > 1)
            {
                error = await WriteBisectingAsync(pipeline.Id, hasher, events, rejected, cancellationToken) ?? error;
            }
            else
            {
                rejected.AddRange(events);
            }
            return rejected.Count == events.Count
                ? new DeliveryResult(DeliveryOutcome.GiveUp, Stopwatch.GetElapsedTime(started), Error: error)
                : new DeliveryResult(DeliveryOutcome.Delivered, Stopwatch.GetElapsedTime(started), Error: error, Rejected: rejected);
        }
        catch (FormatException ex)
        {
            return new DeliveryResult(DeliveryOutcome.GiveUp, Stopwatch.GetElapsedTime(started), Error: ex.Message);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            return new DeliveryResult(DeliveryOutcome.Retry, Stopwatch.GetElapsedTime(started), Error: ex.Message);
        }
    }

    private static bool IsDataError(PostgresException ex) =>
        ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal);

    /// <summary>
    /// Writes <paramref name="events"/> in halves, down to single events, collecting those Postgres rejects as data
    /// errors; returns the first such error. Other failures propagate, and the whole batch is retried (rows already
    /// written are skipped then: the writer inserts each event once per pipeline).
    /// </summary>
    private async Task<string?> WriteBisectingAsync(
        Guid pipelineId, IdentifierHasher? hasher, IReadOnlyList<EnrichedEvent> events, List<EnrichedEvent> rejected, CancellationToken cancellationToken)
    {
        var half = events.Count / 2;
        string? firstError = null;
        foreach (var part in new[] { events.Take(half).ToList(), events.Skip(half).ToList() })
        {
            try
            {
                await writer.WriteAsync(pipelineId, hasher, part, cancellationToken);
            }
            catch (PostgresException ex) when (IsDataError(ex))
            {
                var error = $"{ex.SqlState}: {ex.MessageText}";
                if (part.Count == 1)
                {
                    rejected.Add(part[0]);
                }
                else
                {
                    error = await WriteBisectingAsync(pipelineId, hasher, part, rejected, cancellationToken) ?? error;
                }
                firstError ??= error;
            }
        }
        return firstError;
    }
}
