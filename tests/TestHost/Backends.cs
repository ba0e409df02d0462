using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace Beacon.TestHost;

/// <summary>
/// One throwaway Postgres (migrated) and one Redis per test process, started on first use and shared by
/// every test class. Tests isolate themselves by creating their own store (<see cref="TestData"/>).
/// A test that stops a server must use its own (<see cref="RedisServer.StartAsync"/>), never these.
/// </summary>
public sealed class Backends : IAsyncLifetime
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static Backends? _shared;

    public required PostgresServer Postgres { get; init; }
    public required RedisServer Redis { get; init; }

    /// <summary>The database on <see cref="Postgres"/> the services use.</summary>
    public string Database { get; init; } = "beacon";

    public string PostgresConnectionString => Postgres.ConnectionString(Database);
    public string RedisConnectionString => Redis.ConnectionString;

    /// <summary>The shared instance; started (and migrated) by the first caller.</summary>
    public static async Task<Backends> GetAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_shared is null)
            {
                var postgres = PostgresServer.StartAsync();
                var redis = RedisServer.StartAsync();
                _shared = new Backends { Postgres = await postgres, Redis = await redis };
                await using var db = _shared.CreateDbContext();
                await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
            }
            return _shared;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// A migrated database of the caller's own on the shared Postgres, and a Redis of its own: for tests that lock
    /// tables (<see cref="TokenTableLock"/>) or count every key. The caller disposes <see cref="Redis"/>.
    /// </summary>
    public static async Task<Backends> StartIsolatedAsync()
    {
        var shared = await GetAsync();
        var database = $"isolated_{Guid.NewGuid():N}";
        await shared.Postgres.CreateDatabaseAsync(database);
        var isolated = new Backends { Postgres = shared.Postgres, Redis = await RedisServer.StartAsync(), Database = database };
        await using var db = isolated.CreateDbContext();
        await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
        return isolated;
    }

    public BeaconDbContext CreateDbContext() => CreateDbContext(PostgresConnectionString);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Npgsql.NpgsqlDataSource> DataSources = new();

    /// <summary>A context configured as the services configure theirs (dynamic JSON for <c>Pipeline.Settings</c>).</summary>
    public static BeaconDbContext CreateDbContext(string connectionString)
    {
        var dataSource = DataSources.GetOrAdd(connectionString,
            cs => new Npgsql.NpgsqlDataSourceBuilder(cs).EnableDynamicJson().Build());
        return new(new DbContextOptionsBuilder<BeaconDbContext>()
            .UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
            .UseSnakeCaseNamingConvention()
            .Options);
    }

    /// <summary>Configuration keys that point a service at these servers.</summary>
    public IReadOnlyDictionary<string, string?> ServiceConfiguration => new Dictionary<string, string?>
    {
        ["ConnectionStrings:beacondb"] = PostgresConnectionString,
        ["ConnectionStrings:redis"] = RedisConnectionString,
        [Core.Security.MasterKey.ConfigurationKey] = TestSecrets.MasterKeyBase64,
    };

    // As a class fixture it only hands out the shared servers; they stop when the test process exits.
    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    Task IAsyncLifetime.DisposeAsync() => Task.CompletedTask;
}

/// <summary>xunit fixture: <c>IClassFixture&lt;BackendsFixture&gt;</c> gives a test class the shared servers.</summary>
public sealed class BackendsFixture : IAsyncLifetime
{
    public Backends Backends { get; private set; } = null!;

    public async Task InitializeAsync() => Backends = await Backends.GetAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}
