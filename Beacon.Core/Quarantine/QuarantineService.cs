using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Core.Quarantine;

/// <summary>
/// Lists, replays and discards quarantined stream entries (DESIGN §4): entries the worker could not read, kept with
/// the raw bytes of every field. Replay appends the fields, byte for byte, to the entry's stream again (a new entry)
/// and deletes the row in one transaction that commits only after Redis took the entry: once the worker is fixed it
/// reads and delivers them; one it still cannot read comes back here. <paramref name="storeId"/> arguments scope a
/// call to one store's entries; null means every entry, for operators.
/// </summary>
public sealed class QuarantineService(BeaconDbContext db, IConnectionMultiplexer redis)
{
    public Task<List<QuarantinedEntry>> ListAsync(Guid? storeId, int limit, CancellationToken cancellationToken) =>
        Scoped(storeId).AsNoTracking().OrderByDescending(q => q.FirstSeenAt).ThenByDescending(q => q.Id)
            .Take(Math.Clamp(limit, 1, 1000)).ToListAsync(cancellationToken);

    public Task<QuarantinedEntry?> FindAsync(Guid? storeId, long id, CancellationToken cancellationToken) =>
        Scoped(storeId).AsNoTracking().FirstOrDefaultAsync(q => q.Id == id, cancellationToken);

    public Task<int> CountAsync(Guid? storeId, CancellationToken cancellationToken) => Scoped(storeId).CountAsync(cancellationToken);

    /// <summary>Appends the given entries to their streams again and deletes them here. Returns how many were replayed.</summary>
    public Task<int> ReplayAsync(Guid? storeId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        db.Database.CreateExecutionStrategy().ExecuteAsync(() => ReplayOnceAsync(storeId, ids, cancellationToken));

    /// <summary>Deletes the given entries for good. Returns how many were deleted.</summary>
    public Task<int> DiscardAsync(Guid? storeId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        Scoped(storeId).Where(q => ids.Contains(q.Id)).ExecuteDeleteAsync(cancellationToken);

    private IQueryable<QuarantinedEntry> Scoped(Guid? storeId) =>
        storeId is { } id ? db.Quarantine.Where(q => q.StoreId == id) : db.Quarantine;

    private async Task<int> ReplayOnceAsync(Guid? storeId, IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Locked (SKIP LOCKED: rows another replay holds are its own) so two replays at once append an entry once.
        var rows = new List<(long Id, string Stream, string[] Names, byte[][] Values)>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT id, stream, field_names, field_values FROM quarantine
            WHERE id = ANY($1) AND ($2::uuid IS NULL OR store_id = $2)
            ORDER BY id FOR UPDATE SKIP LOCKED
            """,
            (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction.GetDbTransaction()))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = storeId is { } id ? id : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<string[]>(2), reader.GetFieldValue<byte[][]>(3)));
            }
        }
        if (rows.Count == 0)
        {
            return 0;
        }
        var stream = redis.GetDatabase();
        foreach (var row in rows)
        {
            var fields = row.Names.Zip(row.Values, (name, value) => new NameValueEntry(name, value)).ToArray();
            await stream.StreamAddAsync(row.Stream, fields);
        }
        var replayed = rows.Select(r => r.Id).ToArray();
        await db.Quarantine.Where(q => replayed.Contains(q.Id)).ExecuteDeleteAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return rows.Count;
    }
}
