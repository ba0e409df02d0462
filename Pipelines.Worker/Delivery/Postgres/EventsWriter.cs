using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Webhooks;
using Beacon.Protos.V1;
using Npgsql;
using NpgsqlTypes;

namespace Beacon.Worker.Delivery.Postgres;

/// <summary>
/// Writes events into the day-partitioned <c>events</c> table with binary COPY. A redelivered batch (at-least-once)
/// would hit the primary key, so on a unique violation the batch is loaded again through a temporary table and
/// inserted with ON CONFLICT DO NOTHING: every event lands exactly once per pipeline.
/// </summary>
public sealed class EventsWriter(NpgsqlDataSource dataSource, ILogger<EventsWriter> logger)
{
    private const string Columns =
        "event_id, store_id, pipeline_id, event_type, source, timestamp, received_at, session_id, device_id, customer_id, " +
        "visitor_id, product_id, geo_country, geo_state, geo_city, device_type, browser, os, shopping_channel, data";

    private readonly ConcurrentDictionary<DateOnly, byte> _partitions = new();

    public async Task WriteAsync(Guid pipelineId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        await EnsurePartitionsAsync(events.Select(e => DateOnly.FromDateTime(EventJson.ReceivedAtOf(e).UtcDateTime)).Distinct(), cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await CopyAsync(connection, "events", pipelineId, events, cancellationToken);
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
            await CopyAsync(connection, "events_load", pipelineId, events, cancellationToken);
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
                $"SELECT pg_advisory_xact_lock(4242); {EventsTable.EnsurePartitionSql(day)}", connection, transaction))
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
        NpgsqlConnection connection, string table, Guid pipelineId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        var data = new ArrayBufferWriter<byte>(1024);
        await using var importer = await connection.BeginBinaryImportAsync(
            $"COPY {table} ({Columns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var envelope in events)
        {
            var e = envelope.Event ?? new Event();
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(e.EventId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(Guid.Parse(envelope.StoreId), NpgsqlDbType.Uuid, cancellationToken);
            await importer.WriteAsync(pipelineId, NpgsqlDbType.Uuid, cancellationToken);
            await importer.WriteAsync(e.EventType, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(envelope.Source, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(EventJson.TimestampOf(envelope).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(EventJson.ReceivedAtOf(envelope).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await WriteTextAsync(importer, e.SessionId, cancellationToken);
            await WriteTextAsync(importer, e.DeviceId, cancellationToken);
            await WriteTextAsync(importer, e.CustomerId, cancellationToken);
            await WriteTextAsync(importer, e.VisitorId, cancellationToken);
            await WriteTextAsync(importer, e.ProductId, cancellationToken);
            await WriteTextAsync(importer, envelope.GeoCountry, cancellationToken);
            await WriteTextAsync(importer, envelope.GeoState, cancellationToken);
            await WriteTextAsync(importer, envelope.GeoCity, cancellationToken);
            await WriteTextAsync(importer, envelope.DeviceType, cancellationToken);
            await WriteTextAsync(importer, envelope.Browser, cancellationToken);
            await WriteTextAsync(importer, envelope.Os, cancellationToken);
            await WriteTextAsync(importer, e.ShoppingChannel, cancellationToken);
            data.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(data))
            {
                writer.WriteStartObject();
                EventJson.WriteRemainingFields(writer, e);
                writer.WriteEndObject();
            }
            await importer.WriteAsync(System.Text.Encoding.UTF8.GetString(data.WrittenSpan), NpgsqlDbType.Jsonb, cancellationToken);
        }
        await importer.CompleteAsync(cancellationToken);
    }

    private static Task WriteTextAsync(NpgsqlBinaryImporter importer, string value, CancellationToken cancellationToken) =>
        string.IsNullOrEmpty(value) ? importer.WriteNullAsync(cancellationToken) : importer.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);
}
