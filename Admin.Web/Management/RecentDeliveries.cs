using Npgsql;

namespace Beacon.Admin.Management;

/// <summary>One delivery attempt of a batch to a pipeline: the request (webhook-id, events), its answer and latency.</summary>
public sealed record RecentDelivery(DateTimeOffset At, string WebhookId, int Attempt, int? Status, int DurationMs, string Outcome, string? Error,
    int EventCount, IReadOnlyList<string> EventIds);

/// <summary>
/// A pipeline's latest delivery attempts from the worker's attempt log (<c>delivery_attempts</c>), newest first:
/// the live view next to the live events.
/// </summary>
public sealed class RecentDeliveries(NpgsqlDataSource dataSource)
{
    // Served by ix_delivery_attempts_pipeline_at; the first ids of a batch are enough to follow one into its trace.
    private const string Sql = """
        SELECT at, batch_id, attempt, status, duration_ms, outcome, error, event_count, event_ids[1:5]
        FROM delivery_attempts WHERE pipeline_id = $1 ORDER BY at DESC LIMIT $2
        """;

    public async Task<List<RecentDelivery>> ListAsync(Guid pipelineId, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.Add(new() { Value = pipelineId });
        command.Parameters.Add(new() { Value = Math.Clamp(limit, 1, 500) });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<RecentDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RecentDelivery(
                reader.GetFieldValue<DateTimeOffset>(0),
                Beacon.Core.Delivery.WebhookPayload.MessageIdOf(reader.GetGuid(1)),
                reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3),
                reader.GetInt32(4),
                reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.GetInt32(7),
                reader.GetFieldValue<string[]>(8)));
        }
        return rows;
    }
}
