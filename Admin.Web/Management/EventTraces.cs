using System.Text.Json.Serialization;
using Beacon.Core.Data;
using Beacon.Core.Events;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Admin.Management;

/// <summary>
/// What happened to one event (DESIGN §10): accepted (door, time, enrichment, from the archive) or dropped (the
/// reason, from ingestion's drop log), then every delivery attempt per pipeline, oldest first. The JSON names are
/// the contract's own (snake_case), whatever the rest of the API uses.
/// </summary>
public sealed record EventTrace(
    [property: JsonPropertyName("event_id")] string EventId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason,
    [property: JsonPropertyName("event_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? EventType,
    [property: JsonPropertyName("source"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source,
    [property: JsonPropertyName("received_at"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? ReceivedAt,
    [property: JsonPropertyName("enrichment"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] EventEnrichment? Enrichment,
    [property: JsonPropertyName("deliveries")] IReadOnlyList<PipelineDeliveries> Deliveries)
{
    public const string Accepted = "accepted";
    public const string Dropped = "dropped";
}

public sealed record EventEnrichment(
    [property: JsonPropertyName("geo_country")] string? GeoCountry,
    [property: JsonPropertyName("geo_state")] string? GeoState,
    [property: JsonPropertyName("geo_city")] string? GeoCity,
    [property: JsonPropertyName("device_type")] string? DeviceType,
    [property: JsonPropertyName("browser")] string? Browser,
    [property: JsonPropertyName("os")] string? Os,
    [property: JsonPropertyName("shopping_channel")] string? ShoppingChannel);

public sealed record PipelineDeliveries(
    [property: JsonPropertyName("pipeline_id")] Guid PipelineId,
    [property: JsonPropertyName("pipeline_name")] string? PipelineName,
    [property: JsonPropertyName("attempts")] IReadOnlyList<DeliveryAttempt> Attempts);

public sealed record DeliveryAttempt(
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("status")] int? Status,
    [property: JsonPropertyName("duration_ms")] int DurationMs,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

public sealed class EventTraces(NpgsqlDataSource dataSource, DroppedEvents drops, TimeProvider time, IOptions<AdminOptions> options)
{
    // A repeat of an id after the dedup window is archived again: the newest acceptance is the one traced. The store's
    // rows are walked newest first on (store_id, received_at), each tested on its ids' Bloom filter.
    private const string ArchiveSql = "SELECT events FROM event_archive WHERE " + EventIdFilter.HoldsAnyIdSql + " ORDER BY received_at DESC LIMIT 1";

    // The store's attempts on (store_id, at) from $5, each tested on its ids' Bloom filter. An event is attempted after
    // it was received: when the archive says when, the walk starts there (a minute earlier: the worker's clock).
    private const string AttemptsSql = $"""
        SELECT a.pipeline_id, p.name, a.at, a.status, a.duration_ms, a.outcome, a.error
        FROM (SELECT * FROM delivery_attempts WHERE at >= $5 AND {EventIdFilter.HoldsAnyIdSql}) a
        LEFT JOIN pipelines p ON p.id = a.pipeline_id
        ORDER BY a.at, a.attempt
        """;

    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>The trace of <paramref name="eventId"/> in the store, or null when Beacon has no record of it.</summary>
    public async Task<EventTrace?> FindAsync(Guid storeId, string eventId, CancellationToken cancellationToken)
    {
        EnrichedEvent? archived = null;
        await using (var command = EventIdFilter.Command(dataSource, ArchiveSql, storeId, [eventId]))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                archived = EventArchiveTable.ReadEvents(reader.GetFieldValue<byte[]>(0)).LastOrDefault(e => e.Event?.EventId == eventId);
            }
        }
        if (archived is not null)
        {
            var receivedAt = EventJson.ReceivedAtOf(archived);
            return new EventTrace(eventId, EventTrace.Accepted, null, archived.Event?.EventType, archived.Source, receivedAt,
                EnrichmentOf(archived), await DeliveriesAsync(storeId, eventId, receivedAt - ClockSkew, cancellationToken));
        }
        var deliveries = await DeliveriesAsync(storeId, eventId, DateTimeOffset.UnixEpoch, cancellationToken);
        if (await drops.FindAsync(storeId, eventId, options.Value.TraceWindow, time.GetUtcNow()) is { } dropped)
        {
            return new EventTrace(eventId, EventTrace.Dropped, dropped.Reason, dropped.EventType, dropped.Source, dropped.At, null, deliveries);
        }
        // Delivered but not archived (an archive turned off, or past its retention while attempts are kept longer).
        return deliveries.Count > 0 ? new EventTrace(eventId, EventTrace.Accepted, null, null, null, null, null, deliveries) : null;
    }

    private async Task<List<PipelineDeliveries>> DeliveriesAsync(Guid storeId, string eventId, DateTimeOffset from, CancellationToken cancellationToken)
    {
        await using var command = EventIdFilter.Command(dataSource, AttemptsSql, storeId, [eventId]);
        command.Parameters.Add(new() { Value = from.UtcDateTime, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var byPipeline = new List<(Guid Id, string? Name, List<DeliveryAttempt> Attempts)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var pipelineId = reader.GetGuid(0);
            var index = byPipeline.FindIndex(p => p.Id == pipelineId);
            if (index < 0)
            {
                byPipeline.Add((pipelineId, reader.IsDBNull(1) ? null : reader.GetString(1), []));
                index = byPipeline.Count - 1;
            }
            byPipeline[index].Attempts.Add(new DeliveryAttempt(
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3),
                reader.GetInt32(4),
                reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6)));
        }
        return byPipeline.Select(p => new PipelineDeliveries(p.Id, p.Name, p.Attempts)).ToList();
    }

    private static EventEnrichment EnrichmentOf(EnrichedEvent e) => new(
        NullIfEmpty(e.GeoCountry), NullIfEmpty(e.GeoState), NullIfEmpty(e.GeoCity), NullIfEmpty(e.DeviceType),
        NullIfEmpty(e.Browser), NullIfEmpty(e.Os), NullIfEmpty(e.Event?.ShoppingChannel));

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
