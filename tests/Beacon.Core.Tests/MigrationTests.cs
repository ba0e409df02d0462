using Beacon.Core.Data;
using Beacon.TestHost;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Beacon.Core.Tests;

public sealed class MigrationTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task MigrationsApplyOnAnEmptyDatabaseAndCreateEveryTable()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"empty_{Guid.NewGuid():N}");
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        }

        var tables = await QueryStringsAsync(connectionString,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
        foreach (var expected in new[]
                 {
                     "stores", "access_tokens", "pipelines", "store_members", "delivery_stats", "retry_batches",
                     "dead_letters", "api_keys", "events", "events_default", "quarantine", "AspNetUsers",
                 })
        {
            Assert.Contains(expected, tables);
        }

        var partitioned = await QueryStringsAsync(connectionString,
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid");
        Assert.Equal(["events"], partitioned);
    }

    [Fact]
    public async Task ServicesStartingTogetherMigrateTheDatabaseOnceWithoutErrors()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"race_{Guid.NewGuid():N}");

        var runs = Enumerable.Range(0, 4).Select(async _ =>
        {
            await using var db = Backends.CreateDbContext(connectionString);
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
        });
        await Task.WhenAll(runs);

        var applied = await QueryStringsAsync(connectionString, "SELECT migration_id FROM __ef_migrations_history");
        await using var check = Backends.CreateDbContext(connectionString);
        Assert.Equal(check.Database.GetMigrations().Order(), applied.Order());
    }

    [Fact]
    public async Task DayPartitionsReceiveTheirDaysRows()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"parts_{Guid.NewGuid():N}");
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            var day = new DateOnly(2025, 1, 15);
            await db.Database.ExecuteSqlRawAsync(EventsTable.EnsurePartitionSql(day));
            await db.Database.ExecuteSqlRawAsync(EventsTable.EnsurePartitionSql(day)); // idempotent
            await db.Database.ExecuteSqlRawAsync(/* the SQL is a format string: JSON braces are doubled */ """
                INSERT INTO events (event_id, store_id, pipeline_id, event_type, source, timestamp, received_at, data)
                VALUES ('a', gen_random_uuid(), gen_random_uuid(), 'page_view', 'beacon', now(), '2025-01-15T10:00:00Z', '{{}}'),
                       ('b', gen_random_uuid(), gen_random_uuid(), 'page_view', 'beacon', now(), '2025-03-01T10:00:00Z', '{{}}')
                """);
        }

        Assert.Equal(["a"], await QueryStringsAsync(connectionString, "SELECT event_id FROM events_20250115"));
        Assert.Equal(["b"], await QueryStringsAsync(connectionString, "SELECT event_id FROM events_default"));
    }

    private static async Task<List<string>> QueryStringsAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }
        return values;
    }
}
