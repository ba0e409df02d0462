using Beacon.Core.Data;
using Beacon.TestHost;
using Npgsql;

namespace Beacon.Core.Tests;

/// <summary>The archive finds an event by id through each row's Bloom filter of its ids, which Postgres tests bit by bit.</summary>
public sealed class EventArchiveTableTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task AnEventIsFoundByIdThroughItsRowsFilterAndARowWithoutAFilterThroughItsIds()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"archive_{Guid.NewGuid():N}");
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
        }
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var store = Guid.NewGuid();
        var batch = Enumerable.Range(0, 100).Select(i => $"ev-{i}-{Guid.NewGuid():N}").ToArray();
        var others = Enumerable.Range(0, 100).Select(i => $"other-{i}").ToArray();
        // Row 'filtered': its ids and their filter. Row 'lying': ids whose filter is another batch's, so only a lookup
        // that consults the filter misses them. Row 'unfiltered': written without a filter (e.g. rewritten by older code).
        await InsertAsync(dataSource, store, "filtered", batch, EventIdFilter.Of(batch));
        await InsertAsync(dataSource, store, "lying", ["ev-lying"], EventIdFilter.Of(others));
        await InsertAsync(dataSource, store, "unfiltered", ["ev-unfiltered"], null);

        foreach (var id in batch)
        {
            Assert.Equal(["filtered"], await FindAsync(dataSource, store, [id]));
        }
        Assert.Empty(await FindAsync(dataSource, store, ["ev-lying"]));
        Assert.Equal(["unfiltered"], await FindAsync(dataSource, store, ["ev-unfiltered"]));
        Assert.Equal(["filtered", "unfiltered"], await FindAsync(dataSource, store, ["nowhere", batch[7], "ev-unfiltered"]));
        Assert.Empty(await FindAsync(dataSource, Guid.NewGuid(), [batch[0]]));

        // The filter rules out almost every row it does not hold (~0.24% false positives at 16 bits an id).
        var falsePositives = Enumerable.Range(0, 10_000).Count(i => MayHold(EventIdFilter.Of(batch), $"absent-{i}"));
        Assert.InRange(falsePositives, 0, 100);
    }

    private static bool MayHold(byte[] filter, string id)
    {
        var (h1, h2) = EventIdFilter.Probes([id]);
        var bits = filter.Length * 8L;
        return Enumerable.Range(0, 4).All(i => (filter[(h1[0] + i * h2[0]) % bits >> 3] & (1 << (int)((h1[0] + i * h2[0]) % bits & 7))) != 0);
    }

    private static async Task InsertAsync(NpgsqlDataSource dataSource, Guid store, string entryId, string[] ids, byte[]? filter)
    {
        await using var command = dataSource.CreateCommand(
            "INSERT INTO event_archive (store_id, received_at, entry_id, event_ids, event_id_filter, events) VALUES ($1, now(), $2, $3, $4, '\\x00')");
        command.Parameters.Add(new() { Value = store });
        command.Parameters.Add(new() { Value = entryId });
        command.Parameters.Add(new() { Value = ids });
        command.Parameters.Add(new() { Value = (object?)filter ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea });
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<List<string>> FindAsync(NpgsqlDataSource dataSource, Guid store, string[] ids)
    {
        var (h1, h2) = EventIdFilter.Probes(ids);
        await using var command = dataSource.CreateCommand($"SELECT entry_id FROM event_archive WHERE {EventIdFilter.HoldsAnyIdSql} ORDER BY entry_id");
        command.Parameters.Add(new() { Value = store });
        command.Parameters.Add(new() { Value = ids });
        command.Parameters.Add(new() { Value = h1 });
        command.Parameters.Add(new() { Value = h2 });
        var found = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            found.Add(reader.GetString(0));
        }
        return found;
    }
}
