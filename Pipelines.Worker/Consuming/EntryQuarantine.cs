using Npgsql;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Keeps a stream entry the worker cannot read in the <c>quarantine</c> table, with the raw bytes of every field
/// (DESIGN §4): nothing acked is ever dropped unread. Only an entry whose row is committed may be acked; Admin.Web
/// shows the rows and appends an entry to its stream again (replay) once a fixed worker can read it.
/// </summary>
public sealed class EntryQuarantine(NpgsqlDataSource postgres, WorkerMetrics metrics, TimeProvider time, ILogger<EntryQuarantine> logger)
{
    private const int MaxErrorLength = 2000;

    // The same entry found unreadable again (a crash after the insert, before the ack) keeps its first row.
    private const string Insert = """
        INSERT INTO quarantine (stream, entry_id, field_names, field_values, error, store_id, first_seen_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (stream, entry_id) DO NOTHING
        """;

    /// <summary>
    /// Writes the entry's row; true once it is committed (or was already there), false when Postgres could not take
    /// it: the entry must then stay pending, to be reclaimed and tried again.
    /// </summary>
    public async Task<bool> TryAddAsync(string stream, StreamEntry entry, UnreadableEntry unreadable, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = postgres.CreateCommand(Insert);
            command.Parameters.Add(new NpgsqlParameter { Value = stream });
            command.Parameters.Add(new NpgsqlParameter { Value = entry.Id.ToString() });
            command.Parameters.Add(new NpgsqlParameter { Value = entry.Values.Select(f => f.Name.ToString()).ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = entry.Values.Select(f => (byte[])f.Value!).ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = Truncate(unreadable.Error) });
            command.Parameters.Add(new NpgsqlParameter { Value = unreadable.StoreId is { } storeId ? storeId : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid });
            command.Parameters.Add(new NpgsqlParameter { Value = time.GetUtcNow() });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            logger.LogWarning(ex, "Could not quarantine unreadable entry {EntryId} of {Stream}; it stays pending", entry.Id, stream);
            return false;
        }
        metrics.Quarantined();
        logger.LogError("Entry {EntryId} of {Stream} (store {StoreId}) cannot be read and was quarantined: {Error}",
            entry.Id, stream, unreadable.StoreId, unreadable.Error);
        return true;
    }

    private static string Truncate(string error) => error.Length <= MaxErrorLength ? error : error[..MaxErrorLength];
}

/// <summary>Why an entry cannot be read, and the store its envelopes name if any still does.</summary>
public sealed record UnreadableEntry(string Error, Guid? StoreId);
