using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Beacon.Core.Drops;
using Beacon.Core.Privacy;
using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Beacon.Admin.Privacy;

/// <summary>
/// The work of one deletion, place by place, in chunks so that no statement holds locks long enough to slow
/// ingestion or delivery: the events table (raw and hashed copies), dead letters, parked retry batches, quarantined
/// entries, the event archive, the event ids of delivery attempts (for a whole store: its archive, delivery attempts and
/// drop log), then the notices to the store's webhooks (<see cref="DeletionNotices"/>). Events still in the Redis
/// stream, a lane or an archive write are the worker's part: it checks every event against the deletion rules as it
/// writes it anywhere (<see cref="DeletionRule"/>). Each step can run again without harm.
/// </summary>
public sealed class DeletionSweeper(BeaconDbContext db, IConnectionMultiplexer redis, DeletionNotices notices)
{
    private const int ChunkSize = 5000;
    private const int EnvelopeChunkSize = 500;
    private const int ArchivePageSize = 200;

    /// <returns>What was removed, per place.</returns>
    public async Task<Dictionary<string, long>> RunAsync(DataDeletion deletion, CancellationToken cancellationToken)
    {
        if (deletion.IdentifierField is not { } field || deletion.IdentifierValue is not { } value)
        {
            return await DeleteStoreDataAsync(deletion.StoreId, cancellationToken);
        }
        var rule = new DeletionRule(field, value, Suppressed: true, deletion.RequestedAt);
        // The ids of the identifier's events, gathered on the way, take them out of the delivery attempts last.
        var eventIds = new HashSet<string>(StringComparer.Ordinal);
        var deleted = new Dictionary<string, long>();
        deleted["events"] = await DeleteStoredEventsAsync(deletion.StoreId, field, value, eventIds, cancellationToken);
        deleted["dead_letters"] = await DeleteDeadLettersAsync(deletion.StoreId, rule, eventIds, cancellationToken);
        deleted["retry_batch_events"] = await DeleteParkedEventsAsync(deletion.StoreId, rule, eventIds, cancellationToken);
        deleted["quarantine"] = await DeleteQuarantinedAsync(deletion.StoreId, rule, cancellationToken);
        deleted["archive_events"] = await DeleteArchivedEventsAsync(deletion.StoreId, rule, eventIds, cancellationToken);
        deleted["delivery_attempts"] = await DeleteAttemptEventIdsAsync(deletion.StoreId, eventIds, cancellationToken);
        foreach (var (count, n) in await notices.SendAsync(deletion, field, value, cancellationToken))
        {
            deleted[count] = n;
        }
        return deleted;
    }

    /// <summary>The column of the events table holding an identifier; <c>user_id</c> lives in the <c>data</c> jsonb.</summary>
    private static string ColumnOf(string field) => field switch
    {
        DeletionIdentifiers.DeviceId or DeletionIdentifiers.CustomerId or DeletionIdentifiers.VisitorId or DeletionIdentifiers.SessionId => field,
        DeletionIdentifiers.UserId => "(data->>'user_id')",
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "Not a deletion identifier"),
    };

    /// <summary>
    /// The identifier's rows, raw or as the hash a pipeline hashing that field wrote (<see cref="IdentifierHasher"/>):
    /// any postgres pipeline may have hashed it, now or before a change of its settings.
    /// </summary>
    private async Task<long> DeleteStoredEventsAsync(Guid storeId, string field, string value, HashSet<string> eventIds,
        CancellationToken cancellationToken)
    {
        var salt = await db.Stores.Where(s => s.Id == storeId).Select(s => s.IdentifierSalt).FirstOrDefaultAsync(cancellationToken);
        var hashed = salt is null ? value : IdentifierHasher.Hash(salt, value);
        // The column comes from the fixed list above, never from the request; the values are parameters.
        var sql = $$"""
            WITH doomed AS (
                SELECT event_id, pipeline_id, received_at FROM events
                WHERE store_id = {0} AND ({{ColumnOf(field)}} = {1} OR {{ColumnOf(field)}} = {2}) LIMIT {{ChunkSize}})
            DELETE FROM events e USING doomed d
            WHERE e.store_id = {0} AND e.event_id = d.event_id AND e.pipeline_id = d.pipeline_id AND e.received_at = d.received_at
            RETURNING e.event_id AS "Value"
            """;
        return await DeleteInChunksAsync(async () =>
        {
            var ids = await db.Database.SqlQueryRaw<string>(sql, storeId, value, hashed).ToListAsync(cancellationToken);
            eventIds.UnionWith(ids);
            return ids.Count;
        });
    }

    private async Task<long> DeleteDeadLettersAsync(Guid storeId, DeletionRule rule, HashSet<string> eventIds, CancellationToken cancellationToken)
    {
        long deleted = 0;
        long after = 0;
        while (true)
        {
            var chunk = await db.DeadLetters.AsNoTracking().Where(d => d.StoreId == storeId && d.Id > after).OrderBy(d => d.Id)
                .Take(EnvelopeChunkSize).Select(d => new { d.Id, d.EventId, d.Envelope }).ToListAsync(cancellationToken);
            if (chunk.Count == 0)
            {
                return deleted;
            }
            after = chunk[^1].Id;
            var doomed = chunk.Where(d => Matches(d.Envelope, rule)).ToList();
            if (doomed.Count > 0)
            {
                eventIds.UnionWith(doomed.Select(d => d.EventId));
                var ids = doomed.Select(d => d.Id).ToList();
                deleted += await db.DeadLetters.Where(d => ids.Contains(d.Id)).ExecuteDeleteAsync(cancellationToken);
            }
        }
    }

    /// <summary>
    /// Rewrites parked batches without the identifier's events (a batch left empty is deleted). A batch a worker has
    /// leased is left alone: the worker drops those events itself before its attempt.
    /// </summary>
    private async Task<long> DeleteParkedEventsAsync(Guid storeId, DeletionRule rule, HashSet<string> eventIds, CancellationToken cancellationToken)
    {
        long deleted = 0;
        var after = Guid.Empty;
        while (true)
        {
            var now = DateTimeOffset.UtcNow;
            var chunk = await db.RetryBatches.Where(r => r.StoreId == storeId && r.Id.CompareTo(after) > 0
                    && (r.LeasedUntil == null || r.LeasedUntil < now))
                .OrderBy(r => r.Id).Take(EnvelopeChunkSize).ToListAsync(cancellationToken);
            if (chunk.Count == 0)
            {
                return deleted;
            }
            after = chunk[^1].Id;
            foreach (var batch in chunk)
            {
                IReadOnlyList<EnrichedEvent> events;
                try
                {
                    events = RetryBatchPayload.Read(batch.Payload);
                }
                catch (InvalidProtocolBufferException)
                {
                    continue; // the worker drops an unreadable batch at its next attempt
                }
                var kept = events.Where(e => rule.Drops(e) is null).ToList();
                if (kept.Count == events.Count)
                {
                    continue;
                }
                deleted += events.Count - kept.Count;
                eventIds.UnionWith(events.Where(e => rule.Drops(e) is not null).Select(e => e.Event.EventId));
                if (kept.Count == 0)
                {
                    db.RetryBatches.Remove(batch);
                }
                else
                {
                    batch.Payload = RetryBatchPayload.Of(kept);
                    batch.EventCount = kept.Count;
                }
            }
            await db.SaveChangesAsync(cancellationToken);
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>Quarantined entries could not be read as events: an entry whose bytes hold the identifier anywhere goes.</summary>
    private async Task<long> DeleteQuarantinedAsync(Guid storeId, DeletionRule rule, CancellationToken cancellationToken)
    {
        var entries = await db.Quarantine.AsNoTracking().Where(q => q.StoreId == storeId)
            .Select(q => new { q.Id, q.FieldValues }).ToListAsync(cancellationToken);
        var doomed = entries.Where(q => rule.DropsBytes(q.FieldValues, writtenAt: null) is not null).Select(q => q.Id).ToList();
        return doomed.Count == 0 ? 0 : await db.Quarantine.Where(q => doomed.Contains(q.Id)).ExecuteDeleteAsync(cancellationToken);
    }

    private static bool Matches(byte[] envelope, DeletionRule rule)
    {
        try
        {
            return rule.Drops(EnrichedEvent.Parser.ParseFrom(envelope)) is not null;
        }
        catch (InvalidProtocolBufferException)
        {
            return rule.DropsBytes([envelope], writtenAt: null) is not null;
        }
    }

    /// <summary>
    /// Rewrites the store's archived batches without the identifier's events (a batch left empty goes), page by page in
    /// archive order. A row is found again by its batch key and its old event ids: rows of one stream entry share the key,
    /// and a row archived twice (a reclaimed entry) has the same ids and bytes, so both copies get the same rewrite. The
    /// kept events are encoded as ingestion encodes a batch (<see cref="QueueEntries.Fields"/>), the row's format unchanged.
    /// </summary>
    private async Task<long> DeleteArchivedEventsAsync(Guid storeId, DeletionRule rule, HashSet<string> eventIds, CancellationToken cancellationToken)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            long deleted = 0;
            (DateTime ReceivedAt, string EntryId, string[] EventIds)? cursor = null;
            while (true)
            {
                var page = new List<(DateTime ReceivedAt, string EntryId, string[] EventIds, byte[] Events)>();
                await using (var read = new NpgsqlCommand($"""
                    SELECT received_at, entry_id, event_ids, events FROM {EventArchiveTable.Name}
                    WHERE store_id = $1 AND ($2::timestamptz IS NULL OR (received_at, entry_id, event_ids) > ($2, $3, $4))
                    ORDER BY received_at, entry_id, event_ids
                    LIMIT {ArchivePageSize}
                    """, connection))
                {
                    read.Parameters.Add(new NpgsqlParameter { Value = storeId });
                    read.Parameters.Add(new NpgsqlParameter { Value = cursor is { } c ? c.ReceivedAt : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                    read.Parameters.Add(new NpgsqlParameter { Value = cursor?.EntryId ?? "", NpgsqlDbType = NpgsqlDbType.Text });
                    read.Parameters.Add(new NpgsqlParameter { Value = cursor?.EventIds ?? [], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                    await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        page.Add((reader.GetFieldValue<DateTime>(0), reader.GetString(1), reader.GetFieldValue<string[]>(2), reader.GetFieldValue<byte[]>(3)));
                    }
                }
                if (page.Count == 0)
                {
                    return deleted;
                }
                var last = page[^1];
                cursor = (last.ReceivedAt, last.EntryId, last.EventIds);
                foreach (var row in page)
                {
                    List<Beacon.Protos.Queue.EnrichedEvent> events;
                    try
                    {
                        events = EventArchiveTable.ReadEvents(row.Events);
                    }
                    catch (InvalidProtocolBufferException)
                    {
                        continue; // never written by the worker in that shape; replays skip it too
                    }
                    var doomed = events.Select(e => rule.Drops(e) is not null).ToArray();
                    if (!doomed.Contains(true))
                    {
                        continue;
                    }
                    var kept = events.Where((_, i) => !doomed[i]).ToList();
                    eventIds.UnionWith(events.Where((_, i) => doomed[i]).Select(e => e.Event.EventId));
                    // The row's ids are the events' ids in order (without NUL, which Postgres text cannot hold).
                    var keptIds = row.EventIds.Length == events.Count
                        ? row.EventIds.Where((_, i) => !doomed[i]).ToArray()
                        : kept.Select(e => PostgresText.WithoutNul(e.Event.EventId)).ToArray();
                    await using var write = new NpgsqlCommand(kept.Count == 0
                        ? $"DELETE FROM {EventArchiveTable.Name} WHERE store_id = $1 AND received_at = $2 AND entry_id = $3 AND event_ids = $4"
                        : $"UPDATE {EventArchiveTable.Name} SET events = $5, event_ids = $6, event_id_filter = $7 WHERE store_id = $1 AND received_at = $2 AND entry_id = $3 AND event_ids = $4",
                        connection);
                    write.Parameters.Add(new NpgsqlParameter { Value = storeId });
                    write.Parameters.Add(new NpgsqlParameter { Value = row.ReceivedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                    write.Parameters.Add(new NpgsqlParameter { Value = row.EntryId });
                    write.Parameters.Add(new NpgsqlParameter { Value = row.EventIds, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                    if (kept.Count > 0)
                    {
                        write.Parameters.Add(new NpgsqlParameter { Value = (byte[])QueueEntries.Fields(kept)[0].Value!, NpgsqlDbType = NpgsqlDbType.Bytea });
                        write.Parameters.Add(new NpgsqlParameter { Value = keptIds, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                        write.Parameters.Add(new NpgsqlParameter { Value = EventIdFilter.Of(keptIds), NpgsqlDbType = NpgsqlDbType.Bytea });
                    }
                    if (await write.ExecuteNonQueryAsync(cancellationToken) > 0)
                    {
                        deleted += events.Count - kept.Count;
                    }
                }
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>
    /// The identifier's event ids leave the delivery attempts of the store (the attempts stay: they are the pipelines'
    /// history, and without the ids nothing in them leads to the shopper). Returns how many attempts were changed.
    /// </summary>
    private async Task<long> DeleteAttemptEventIdsAsync(Guid storeId, HashSet<string> eventIds, CancellationToken cancellationToken)
    {
        // The store's attempts on (store_id, at), each tested on its ids' Bloom filter; a changed row keeps the order
        // of its other ids and gets their filter, so nothing of the deleted ids stays in it.
        const string findSql = $"SELECT pipeline_id, batch_id, attempt, at, event_ids FROM {DeliveryAttemptsTable.Name} WHERE {EventIdFilter.HoldsAnyIdSql}";
        const string updateSql = $"""
            UPDATE {DeliveryAttemptsTable.Name} SET event_ids = $5, event_id_filter = $6
            WHERE pipeline_id = $1 AND batch_id = $2 AND attempt = $3 AND at = $4
            """;
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            long changed = 0;
            foreach (var chunk in eventIds.Chunk(1000))
            {
                var rows = new List<(Guid PipelineId, Guid BatchId, int Attempt, DateTime At, string[] EventIds)>();
                await using (var find = EventIdFilter.Command(connection, findSql, storeId, chunk))
                {
                    await using var reader = await find.ExecuteReaderAsync(cancellationToken);
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        rows.Add((reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetFieldValue<DateTime>(3), reader.GetFieldValue<string[]>(4)));
                    }
                }
                foreach (var row in rows)
                {
                    var kept = row.EventIds.Where(id => !eventIds.Contains(id)).ToArray();
                    await using var update = new NpgsqlCommand(updateSql, connection);
                    update.Parameters.Add(new NpgsqlParameter { Value = row.PipelineId });
                    update.Parameters.Add(new NpgsqlParameter { Value = row.BatchId });
                    update.Parameters.Add(new NpgsqlParameter { Value = row.Attempt });
                    update.Parameters.Add(new NpgsqlParameter { Value = row.At, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                    update.Parameters.Add(new NpgsqlParameter { Value = kept, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                    update.Parameters.Add(new NpgsqlParameter { Value = EventIdFilter.Of(kept), NpgsqlDbType = NpgsqlDbType.Bytea });
                    changed += await update.ExecuteNonQueryAsync(cancellationToken);
                }
            }
            return changed;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private async Task<Dictionary<string, long>> DeleteStoreDataAsync(Guid storeId, CancellationToken cancellationToken)
    {
        var sql = $$"""
            WITH doomed AS (SELECT event_id, pipeline_id, received_at FROM events WHERE store_id = {0} LIMIT {{ChunkSize}})
            DELETE FROM events e USING doomed d
            WHERE e.store_id = {0} AND e.event_id = d.event_id AND e.pipeline_id = d.pipeline_id AND e.received_at = d.received_at
            """;
        var deleted = new Dictionary<string, long>
        {
            ["events"] = await DeleteInChunksAsync(() => db.Database.ExecuteSqlRawAsync(sql, [storeId], cancellationToken)),
            ["quarantine"] = await db.Quarantine.Where(q => q.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
            // The store row's foreign keys took these with it already; whatever a worker parked since goes now.
            ["dead_letters"] = await db.DeadLetters.Where(d => d.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
            ["retry_batches"] = await db.RetryBatches.Where(r => r.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
            ["archive_events"] = await DeleteStoreArchiveAsync(storeId, cancellationToken),
            // No index leads there by store: one statement, run once per store deletion, holding only the store's rows.
            ["delivery_attempts"] = await db.Database.ExecuteSqlRawAsync(
                $"DELETE FROM {DeliveryAttemptsTable.Name} WHERE store_id = {{0}}", [storeId], cancellationToken),
        };
        var keys = new RedisKey[] { DropLogKeys.Recent(storeId), DropLogKeys.Counts(storeId) };
        deleted["drop_log"] = await redis.GetDatabase().KeyDeleteAsync(keys);
        return deleted;
    }

    /// <summary>The store's archived batches, those of a few batch keys at a time (the archive's index leads with the store); returns the events they held.</summary>
    private async Task<long> DeleteStoreArchiveAsync(Guid storeId, CancellationToken cancellationToken)
    {
        var sql = $$"""
            DELETE FROM {{EventArchiveTable.Name}} a
            WHERE a.store_id = {0} AND (a.received_at, a.entry_id) IN (
                SELECT received_at, entry_id FROM {{EventArchiveTable.Name}} WHERE store_id = {0} LIMIT {{ArchivePageSize}})
            RETURNING cardinality(a.event_ids) AS "Value"
            """;
        long events = 0;
        while (true)
        {
            var rows = await db.Database.SqlQueryRaw<int>(sql, storeId).ToListAsync(cancellationToken);
            if (rows.Count == 0)
            {
                return events;
            }
            events += rows.Sum();
        }
    }

    private static async Task<long> DeleteInChunksAsync(Func<Task<int>> deleteChunk)
    {
        long total = 0;
        int deleted;
        do
        {
            deleted = await deleteChunk();
            total += deleted;
        }
        while (deleted > 0);
        return total;
    }
}
