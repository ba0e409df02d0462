using Beacon.Protos.V1;
using Npgsql;

namespace Beacon.Admin.Management;

/// <summary>Reads accepted events back from the worker's archive (<c>event_archive</c>), e.g. to test a pipeline with real ones.</summary>
public sealed class ArchivedEvents(NpgsqlDataSource dataSource)
{
    // Index (store_id, received_at, event_id) read backwards through the day partitions.
    private const string RecentSql = """
        SELECT envelope FROM event_archive WHERE store_id = $1 ORDER BY received_at DESC, event_id LIMIT $2
        """;

    private const string ByIdSql = """
        SELECT DISTINCT ON (event_id) envelope FROM event_archive WHERE store_id = $1 AND event_id = ANY($2)
        ORDER BY event_id, received_at DESC
        """;

    /// <summary>The store's newest accepted events, newest first (an entry archived twice shows once).</summary>
    public async Task<List<EnrichedEvent>> RecentAsync(Guid storeId, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RecentSql);
        command.Parameters.Add(new() { Value = storeId });
        command.Parameters.Add(new() { Value = Math.Clamp(limit, 1, 100) * 2 });
        var events = await ReadAsync(command, cancellationToken);
        return events.DistinctBy(e => e.Event?.EventId).Take(limit).ToList();
    }

    /// <summary>The archived events with these ids, in the order asked; ids not in the archive are left out.</summary>
    public async Task<List<EnrichedEvent>> FindAsync(Guid storeId, IReadOnlyList<string> eventIds, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ByIdSql);
        command.Parameters.Add(new() { Value = storeId });
        command.Parameters.Add(new() { Value = eventIds.ToArray() });
        var found = (await ReadAsync(command, cancellationToken)).ToDictionary(e => e.Event?.EventId ?? "");
        return eventIds.Distinct().Where(found.ContainsKey).Select(id => found[id]).ToList();
    }

    private static async Task<List<EnrichedEvent>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var events = new List<EnrichedEvent>();
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(EnrichedEvent.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0)));
        }
        return events;
    }
}
