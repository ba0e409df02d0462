using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Beacon.Admin.Management;

/// <summary>
/// Reads accepted events back from the worker's archive (<c>event_archive</c>), e.g. to test a pipeline with real ones,
/// leaving out what an active suppression or a deletion not yet completed reaches: such events stay archived until the
/// deletion's sweep (<see cref="AdminOptions.DeletionSettleDelay"/> after the request) and must not be sent meanwhile.
/// </summary>
public sealed class ArchivedEvents(NpgsqlDataSource dataSource, BeaconDbContext db)
{
    // Index (store_id, received_at, entry_id) read backwards through the day partitions; a row is an ingested batch.
    private const string RecentSql = """
        SELECT events FROM event_archive WHERE store_id = $1 ORDER BY received_at DESC, entry_id DESC LIMIT $2
        """;

    // The store's rows on (store_id, received_at), each tested on its ids' Bloom filter.
    private const string ByIdSql = "SELECT events FROM event_archive WHERE " + EventIdFilter.HoldsAnyIdSql + " ORDER BY received_at";

    /// <summary>The store's newest accepted events, newest first (an entry archived twice shows once).</summary>
    public async Task<List<EnrichedEvent>> RecentAsync(Guid storeId, int limit, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, 100);
        await using var command = dataSource.CreateCommand(RecentSql);
        command.Parameters.Add(new() { Value = storeId });
        command.Parameters.Add(new() { Value = limit });
        var events = new List<EnrichedEvent>();
        foreach (var batch in await ReadAsync(command, cancellationToken))
        {
            events.AddRange(Enumerable.Reverse(batch));
        }
        var rules = await DeletionRulesAsync(storeId, cancellationToken);
        return events.DistinctBy(e => e.Event?.EventId).Where(e => DeletionRule.FirstDrop(rules, e) is null).Take(limit).ToList();
    }

    /// <summary>The archived events with these ids (the newest acceptance of each), in the order asked; ids not in the archive are left out.</summary>
    public async Task<List<EnrichedEvent>> FindAsync(Guid storeId, IReadOnlyList<string> eventIds, CancellationToken cancellationToken)
    {
        await using var command = EventIdFilter.Command(dataSource, ByIdSql, storeId, eventIds);
        var wanted = eventIds.ToHashSet();
        var found = new Dictionary<string, EnrichedEvent>();
        foreach (var batch in await ReadAsync(command, cancellationToken))
        {
            foreach (var e in batch.Where(e => wanted.Contains(e.Event?.EventId ?? "")))
            {
                found[e.Event.EventId] = e;
            }
        }
        var rules = await DeletionRulesAsync(storeId, cancellationToken);
        return eventIds.Distinct().Where(found.ContainsKey).Select(id => found[id]).Where(e => DeletionRule.FirstDrop(rules, e) is null).ToList();
    }

    // A completed deletion's events are no longer archived (the worker leaves out those it reads later).
    private async Task<List<DeletionRule>> DeletionRulesAsync(Guid storeId, CancellationToken cancellationToken) =>
        (await db.DataDeletions.AsNoTracking()
            .Where(d => d.StoreId == storeId && d.IdentifierField != null && d.IdentifierValue != null
                && ((d.Suppress && d.LiftedAt == null) || d.Status != DeletionStatuses.Completed))
            .ToListAsync(cancellationToken))
        .Select(DeletionRule.Of).ToList();

    private static async Task<List<List<EnrichedEvent>>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var batches = new List<List<EnrichedEvent>>();
        while (await reader.ReadAsync(cancellationToken))
        {
            batches.Add(EventArchiveTable.ReadEvents(reader.GetFieldValue<byte[]>(0)));
        }
        return batches;
    }
}
