using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.Core.Security;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Admin.Tests;

/// <summary>
/// Rows the other services write (pipelines, dead letters, delivery stats, stored events), put straight into
/// Postgres through the app's own DbContext registration (<c>Backends.CreateDbContext()</c> lacks Npgsql's
/// dynamic-JSON opt-in that <c>Pipeline.Settings</c> needs).
/// </summary>
public sealed class AdminData(IServiceProvider services)
{
    public async Task<T> WithDbAsync<T>(Func<BeaconDbContext, Task<T>> action)
    {
        await using var scope = services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<BeaconDbContext>());
    }

    public Task<Pipeline> PipelineAsync(Guid pipelineId) =>
        WithDbAsync(db => db.Pipelines.AsNoTracking().SingleAsync(p => p.Id == pipelineId));

    public Task<Pipeline> CreatePipelineAsync(Guid storeId, string kind = PipelineKinds.Webhook, string? url = "https://hooks.example.com/in", string? name = null)
    {
        var pipeline = new Pipeline
        {
            StoreId = storeId,
            Name = name ?? $"pipeline-{Guid.NewGuid():N}"[..20],
            Kind = kind,
            Url = kind == PipelineKinds.Webhook ? url : null,
            Secret = TestSecrets.Protector.Seal(WebhookSecret.New()),
        };
        return WithDbAsync(async db =>
        {
            db.Pipelines.Add(pipeline);
            await db.SaveChangesAsync();
            return pipeline;
        });
    }

    /// <summary>A dead letter as the worker writes it: the protobuf envelope of a real event.</summary>
    /// <summary>An entry as the worker quarantines it, in a stream of its own (replay appends to it).</summary>
    public Task<QuarantinedEntry> CreateQuarantinedEntryAsync(Guid? storeId, string error = "Not an entry of events: invalid tag (zero)",
        string note = "kept as sent")
    {
        var entry = new QuarantinedEntry
        {
            Stream = $"beacon:test:{Guid.NewGuid():N}:events",
            EntryId = $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}-0",
            FieldNames = ["b", "note"],
            FieldValues = [[0x0A, 0xFF, 0x01, 0x02], System.Text.Encoding.UTF8.GetBytes(note)],
            Error = error,
            StoreId = storeId,
        };
        return WithDbAsync(async db =>
        {
            db.Quarantine.Add(entry);
            await db.SaveChangesAsync();
            return entry;
        });
    }

    public Task<DeadLetter> CreateDeadLetterAsync(Pipeline pipeline, string eventType = "page_view", int status = 410,
        string excerpt = "gone for good", DateTimeOffset? createdAt = null, string deviceId = "")
    {
        var envelope = Envelope(pipeline.StoreId, eventType, deviceId);
        var eventId = envelope.Event.EventId;
        var deadLetter = new DeadLetter
        {
            PipelineId = pipeline.Id,
            StoreId = pipeline.StoreId,
            EventId = eventId,
            EventType = eventType,
            Envelope = envelope.ToByteArray(),
            Attempts = 8,
            LastStatus = status,
            LastError = $"HTTP {status}",
            ResponseExcerpt = excerpt,
            CreatedAt = createdAt ?? DateTimeOffset.UtcNow,
        };
        return WithDbAsync(async db =>
        {
            db.DeadLetters.Add(deadLetter);
            await db.SaveChangesAsync();
            return deadLetter;
        });
    }

    public static EnrichedEvent Envelope(Guid storeId, string eventType = "page_view", string deviceId = "") => new()
    {
        Event = new Event
        {
            EventId = $"evt_{Guid.NewGuid():N}", EventType = eventType, SessionId = "s1", DeviceId = deviceId,
            Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
        },
        StoreId = storeId.ToString(),
        Source = "beacon",
        ReceivedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
    };

    /// <summary>A batch parked for retry as the worker parks it (an <c>EnrichedEventBatch</c>).</summary>
    public Task<RetryBatch> CreateRetryBatchAsync(Pipeline pipeline, IReadOnlyList<EnrichedEvent> events)
    {
        var payload = new EnrichedEventBatch();
        payload.Events.AddRange(events);
        var batch = new RetryBatch
        {
            PipelineId = pipeline.Id,
            StoreId = pipeline.StoreId,
            Payload = payload.ToByteArray(),
            EventCount = events.Count,
            Attempts = 1,
            NextAttemptAt = DateTimeOffset.UtcNow.AddHours(1),
        };
        return WithDbAsync(async db =>
        {
            db.RetryBatches.Add(batch);
            await db.SaveChangesAsync();
            return batch;
        });
    }

    /// <summary>One minute of delivery counts, <paramref name="minutesAgo"/> before the current minute.</summary>
    public Task<DeliveryStat> AddStatsAsync(Guid pipelineId, long delivered, long failed, int minutesAgo = 5)
    {
        var now = DateTimeOffset.UtcNow;
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(-minutesAgo);
        var stat = new DeliveryStat { PipelineId = pipelineId, Minute = minute, Delivered = delivered, Failed = failed };
        return WithDbAsync(async db =>
        {
            db.DeliveryStats.Add(stat);
            await db.SaveChangesAsync();
            return stat;
        });
    }

    /// <summary>A row of the events table as a postgres pipeline writes it; returns its event id.</summary>
    public Task<string> AddStoredEventAsync(Guid storeId, Guid pipelineId, string eventType = "product_view", DateTimeOffset? receivedAt = null,
        string? deviceId = null)
    {
        var eventId = $"evt_{Guid.NewGuid():N}";
        var at = receivedAt ?? DateTimeOffset.UtcNow;
        return WithDbAsync(async db =>
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO events (event_id, store_id, pipeline_id, event_type, source, timestamp, received_at, session_id, device_id, product_id, geo_country, device_type, data)
                VALUES ({eventId}, {storeId}, {pipelineId}, {eventType}, 'beacon', {at}, {at}, 'sess_1', {deviceId}, '7003338965178', 'US', 'desktop', CAST({"{}"} AS jsonb))
                """);
            return eventId;
        });
    }

    /// <summary>An archived batch as the worker archives one (the queue's batch bytes and the events' ids).</summary>
    public Task AddArchivedBatchAsync(Guid storeId, IReadOnlyList<EnrichedEvent> events, string entryId) => WithDbAsync(db =>
        db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO event_archive (store_id, received_at, entry_id, event_ids, event_id_filter, events)
            VALUES ({storeId}, {events[0].ReceivedAt.ToDateTimeOffset()}, {entryId}, {events.Select(e => e.Event.EventId).ToArray()},
                    {EventIdFilter.Of(events.Select(e => e.Event.EventId).ToArray())}, {(byte[])QueueEntries.Fields(events)[0].Value!})
            """));

    /// <summary>The archived batches of a store: each row's event ids, the events its bytes hold and its ids' Bloom filter.</summary>
    public Task<List<(string[] EventIds, List<EnrichedEvent> Events, byte[] Filter)>> ArchivedBatchesAsync(Guid storeId) => WithDbAsync(async db =>
    {
        await db.Database.OpenConnectionAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT event_ids, events, event_id_filter FROM event_archive WHERE store_id = $1",
            (Npgsql.NpgsqlConnection)db.Database.GetDbConnection());
        command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = storeId });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string[], List<EnrichedEvent>, byte[])>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetFieldValue<string[]>(0), EventArchiveTable.ReadEvents(reader.GetFieldValue<byte[]>(1)), reader.GetFieldValue<byte[]>(2)));
        }
        return rows;
    });

    /// <summary>A delivery attempt as the worker's attempt log records it.</summary>
    public Task AddDeliveryAttemptAsync(Guid storeId, Guid pipelineId, params string[] eventIds) => WithDbAsync(db =>
        db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO delivery_attempts (store_id, pipeline_id, batch_id, attempt, at, status, duration_ms, outcome, event_count, event_ids, event_id_filter)
            VALUES ({storeId}, {pipelineId}, {Guid.CreateVersion7()}, 1, {DateTimeOffset.UtcNow}, 200, 12, 'delivered', {eventIds.Length}, {eventIds}, {EventIdFilter.Of(eventIds)})
            """));

    /// <summary>The event ids of each delivery attempt of a store, oldest first.</summary>
    public async Task<List<string[]>> AttemptEventIdsAsync(Guid storeId) => (await AttemptsAsync(storeId)).Select(a => a.EventIds).ToList();

    /// <summary>The event ids of each delivery attempt of a store and their Bloom filter, oldest first.</summary>
    public Task<List<(string[] EventIds, byte[] Filter)>> AttemptsAsync(Guid storeId) => WithDbAsync(async db =>
    {
        await db.Database.OpenConnectionAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT event_ids, event_id_filter FROM delivery_attempts WHERE store_id = $1 ORDER BY at",
            (Npgsql.NpgsqlConnection)db.Database.GetDbConnection());
        command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = storeId });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string[], byte[])>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetFieldValue<string[]>(0), reader.GetFieldValue<byte[]>(1)));
        }
        return rows;
    });
}
