using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
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
                     "replays", "event_archive", "event_archive_default", "delivery_attempts", "delivery_attempts_default",
                     "deletion_notices",
                 })
        {
            Assert.Contains(expected, tables);
        }

        var partitioned = await QueryStringsAsync(connectionString,
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid");
        Assert.Equal(["delivery_attempts", "event_archive", "events"], partitioned.Order(StringComparer.Ordinal));
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

    [Fact]
    public async Task LargeValuesAreCompressedWithLz4IncludingInDayPartitionsCreatedLater()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"toast_{Guid.NewGuid():N}");
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            await db.Database.ExecuteSqlRawAsync(DayPartitions.EnsureSql(EventArchiveTable.Name, new DateOnly(2025, 1, 15)));
        }

        // Every compressible column of every table, partitions made before and after the migration alike.
        var notLz4 = await QueryStringsAsync(connectionString, """
            SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attstorage IN ('x', 'm') AND a.attcompression <> 'l'
            """);
        Assert.Empty(notLz4);
        var archived = await QueryStringsAsync(connectionString, """
            SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'event_archive_20250115'::regclass AND a.attcompression = 'l'
            """);
        Assert.Contains("events", archived);
        Assert.Contains("event_ids", archived);

        // A value past TOAST's threshold is stored compressed with lz4.
        await using var data = NpgsqlDataSource.Create(connectionString);
        await using (var insert = data.CreateCommand("""
            INSERT INTO event_archive (store_id, received_at, entry_id, event_ids, events)
            VALUES (gen_random_uuid(), '2025-01-15T10:00:00Z', 'q/1-0', ARRAY['a'], convert_to(repeat('event bytes ', 2000), 'UTF8'))
            """))
        {
            await insert.ExecuteNonQueryAsync();
        }
        Assert.Equal(["lz4"], await QueryStringsAsync(connectionString, "SELECT pg_column_compression(events) FROM event_archive_20250115"));
    }

    [Fact]
    public async Task WebhookSecretsStoredInPlaintextAreSealedOnceAndTheConstraintsThenHold()
    {
        var connectionString = await fixture.Backends.Postgres.CreateDatabaseAsync($"seal_{Guid.NewGuid():N}");
        var protector = TestSecrets.Protector;
        var (plain, previous) = (WebhookSecret.New(), WebhookSecret.New());
        var alreadySealed = protector.Seal(WebhookSecret.New());
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            // The schema as it was before secrets were encrypted, with rows written then.
            await db.GetService<IMigrator>().MigrateAsync("20261201234707_StoreAllowedPrivateNetworks");
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO stores (id, name, created_at) VALUES ('00000000-0000-0000-0000-0000000000aa', 'old', now());
                INSERT INTO pipelines (id, store_id, name, kind, settings, secret, previous_secret, event_types, enabled, created_at, updated_at) VALUES
                    ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000aa', 'rotating', 'webhook', jsonb_build_object(), {plain}, {previous}, ARRAY[]::text[], true, now(), now()),
                    ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000aa', 'empty previous', 'webhook', jsonb_build_object(), {plain}, '', ARRAY[]::text[], true, now(), now()),
                    ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-0000000000aa', 'sealed', 'webhook', jsonb_build_object(), {alreadySealed}, NULL, ARRAY[]::text[], true, now(), now());
                """);
            await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);

            Assert.Equal(2, await protector.SealPlaintextSecretsAsync(db, CancellationToken.None));
        }
        var stored = await QueryStringsAsync(connectionString,
            "SELECT name || '|' || secret || '|' || coalesce(previous_secret, 'null') FROM pipelines ORDER BY id");
        var rows = stored.Select(r => r.Split('|')).ToList();
        Assert.Equal(plain, protector.Open(rows[0][1]));
        Assert.Equal(previous, protector.Open(rows[0][2]));
        Assert.Equal(plain, protector.Open(rows[1][1]));
        Assert.Equal("null", rows[1][2]);
        Assert.Equal(alreadySealed, rows[2][1]);

        // A second run finds nothing, and the constraints now hold for every row, old ones included.
        await using (var db = Backends.CreateDbContext(connectionString))
        {
            Assert.Equal(0, await protector.SealPlaintextSecretsAsync(db, CancellationToken.None));
        }
        Assert.Equal(stored, await QueryStringsAsync(connectionString,
            "SELECT name || '|' || secret || '|' || coalesce(previous_secret, 'null') FROM pipelines ORDER BY id"));
        Assert.Equal(["true", "true"], await QueryStringsAsync(connectionString,
            "SELECT convalidated::text FROM pg_constraint WHERE conname LIKE 'ck_pipelines_%secret_sealed' ORDER BY conname"));
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
