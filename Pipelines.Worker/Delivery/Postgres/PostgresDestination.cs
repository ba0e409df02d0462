using System.Diagnostics;
using Beacon.Core.Data;
using Beacon.Protos.V1;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery.Postgres;

/// <summary><c>postgres</c> pipelines: events COPY'd into the <c>events</c> table, in large batches.</summary>
public sealed class PostgresDestination(EventsWriter writer, IOptions<WorkerOptions> options) : IPipelineDestination
{
    public string Kind => PipelineKinds.Postgres;

    public int BatchSize => Math.Max(1, options.Value.PostgresBatchSize);

    public TimeSpan Linger => options.Value.PostgresLinger;

    public async Task<DeliveryResult> DeliverAsync(
        Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await writer.WriteAsync(pipeline.Id, events, cancellationToken);
            return new DeliveryResult(DeliveryOutcome.Delivered, Stopwatch.GetElapsedTime(started));
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal) || ex.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            // Data the table cannot hold will not fit on a later attempt either.
            return new DeliveryResult(DeliveryOutcome.GiveUp, Stopwatch.GetElapsedTime(started), Error: $"{ex.SqlState}: {ex.MessageText}");
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
}
