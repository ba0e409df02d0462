using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Events;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Npgsql;

namespace Beacon.Worker.Delivery.Postgres;

/// <summary>
/// Writes events into the day-partitioned <c>events</c> table with binary COPY. A redelivered batch (at-least-once)
/// would hit the primary key, so on a unique violation the batch is loaded again through a temporary table and
/// inserted with ON CONFLICT DO NOTHING: every event lands exactly once per pipeline. A pipeline's hashed identifiers
/// (<see cref="IdentifierHasher"/>) are hashed as each row is written.
/// </summary>
public sealed class EventsWriter(NpgsqlDataSource dataSource, ILogger<EventsWriter> logger)
{
    private const string Columns =
        "event_id, store_id, pipeline_id, event_type, source, timestamp, received_at, session_id, device_id, customer_id, " +
        "visitor_id, product_id, geo_country, geo_state, geo_city, device_type, browser, os, shopping_channel, data";

    private readonly ConcurrentDictionary<DateOnly, byte> _partitions = new();

    public async Task WriteAsync(Guid pipelineId, IdentifierHasher? hasher, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        await EnsurePartitionsAsync(events.Select(e => DateOnly.FromDateTime(EventJson.ReceivedAtOf(e).UtcDateTime)).Distinct(), cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await CopyAsync(connection, "events", pipelineId, hasher, events, cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            logger.LogDebug("Batch for pipeline {PipelineId} was partly written before; inserting the rest", pipelineId);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var create = new NpgsqlCommand(
                "CREATE TEMP TABLE events_load (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP", connection, transaction))
            {
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
            await CopyAsync(connection, "events_load", pipelineId, hasher, events, cancellationToken);
            await using (var insert = new NpgsqlCommand(
                $"INSERT INTO events ({Columns}) SELECT {Columns} FROM events_load ON CONFLICT DO NOTHING", connection, transaction))
            {
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
    }

    /// <summary>Creates the partitions of the given days unless known to exist.</summary>
    public async Task EnsurePartitionsAsync(IEnumerable<DateOnly> days, CancellationToken cancellationToken)
    {
        foreach (var day in days)
        {
            if (_partitions.ContainsKey(day))
            {
                continue;
            }
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // Workers creating the same partition at once would collide on the catalog: take turns.
            await using (var command = new NpgsqlCommand(
                $"SELECT pg_advisory_xact_lock({AdvisoryLocks.PartitionDdl}); {EventsTable.EnsurePartitionSql(day)}", connection, transaction))
            {
                try
                {
                    await command.ExecuteNonQueryAsync(cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.CheckViolation)
                {
                    // The default partition already holds rows of that day; they keep landing there.
                    logger.LogWarning("Partition for {Day} cannot be created: the default partition has its rows", day);
                }
            }
            _partitions[day] = 0;
        }
    }

    private static async Task CopyAsync(
        NpgsqlConnection connection, string table, Guid pipelineId, IdentifierHasher? hasher, IReadOnlyList<EnrichedEvent> events,
        CancellationToken cancellationToken)
    {
        var data = new ArrayBufferWriter<byte>(1024);
        await using var json = new Utf8JsonWriter(data);
        var (rows, stream) = await BinaryCopyRows.BeginAsync(connection, $"COPY {table} ({Columns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        await using (stream)
        {
            foreach (var envelope in events)
            {
                WriteRow(rows, pipelineId, hasher?.Apply(envelope) ?? envelope, data, json);
                await rows.FlushIfFullAsync(cancellationToken);
            }
            await rows.CompleteAsync(cancellationToken);
        }
    }

    private static void WriteRow(BinaryCopyRows rows, Guid pipelineId, EnrichedEvent envelope, ArrayBufferWriter<byte> data, Utf8JsonWriter json)
    {
        var e = envelope.Event ?? new Event();
        rows.StartRow(20);
        rows.Text(e.EventId);
        rows.Uuid(Guid.Parse(envelope.StoreId));
        rows.Uuid(pipelineId);
        rows.Text(e.EventType);
        rows.Text(envelope.Source);
        rows.Timestamp(EventJson.TimestampOf(envelope));
        rows.Timestamp(EventJson.ReceivedAtOf(envelope));
        rows.TextOrNull(e.SessionId);
        rows.TextOrNull(e.DeviceId);
        rows.TextOrNull(e.CustomerId);
        rows.TextOrNull(e.VisitorId);
        rows.TextOrNull(e.ProductId);
        rows.TextOrNull(envelope.GeoCountry);
        rows.TextOrNull(envelope.GeoState);
        rows.TextOrNull(envelope.GeoCity);
        rows.TextOrNull(envelope.DeviceType);
        rows.TextOrNull(envelope.Browser);
        rows.TextOrNull(envelope.Os);
        rows.TextOrNull(e.ShoppingChannel);
        data.ResetWrittenCount();
        json.Reset(data);
        json.WriteStartObject();
        EventJson.WriteRemainingFields(json, e);
        json.WriteEndObject();
        json.Flush();
        if (data.WrittenSpan.IndexOf("\\u0000"u8) < 0)
        {
            rows.Jsonb(data.WrittenSpan);
        }
        else
        {
            rows.Jsonb(System.Text.Encoding.UTF8.GetBytes(JsonWithoutNul(System.Text.Encoding.UTF8.GetString(data.WrittenSpan))));
        }
    }

    /// <summary>
    /// jsonb rejects the escape <c>\u0000</c> (22P05); the JSON writer escapes U+0000 in names and strings that
    /// way, so the escape is dropped. An escaped backslash followed by "u0000" is text, not the escape, and stays.
    /// </summary>
    public static string JsonWithoutNul(string json)
    {
        if (!json.Contains("\\u0000", StringComparison.Ordinal))
        {
            return json;
        }
        var clean = new System.Text.StringBuilder(json.Length);
        for (var i = 0; i < json.Length; i++)
        {
            if (json[i] != '\\' || i + 1 >= json.Length)
            {
                clean.Append(json[i]);
            }
            else if (string.CompareOrdinal(json, i, "\\u0000", 0, 6) == 0)
            {
                i += 5;
            }
            else
            {
                clean.Append(json, i, 2);
                i++;
            }
        }
        return clean.ToString();
    }
}
