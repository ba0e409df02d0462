using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.Core.Security;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Worker.Tests.Infrastructure;

/// <summary>
/// One test's world: its own store, its own Redis database (so no other test's worker reads its stream),
/// helpers to create pipelines, queue events in the ingestion format and run workers in-process or as real
/// processes.
/// </summary>
public sealed class Scenario : IAsyncDisposable
{
    private static int _nextDatabase;
    private readonly List<IAsyncDisposable> _owned = [];

    private Scenario(Backends backends, int database, IConnectionMultiplexer redis, Guid storeId)
    {
        Backends = backends;
        Database = database;
        Redis = redis;
        StoreId = storeId;
    }

    public Backends Backends { get; }
    public int Database { get; }
    public IConnectionMultiplexer Redis { get; }
    public Guid StoreId { get; }
    public string Stream => QueueKeys.Stream(QueueKeys.PartitionOf(StoreId, 1));
    public string RedisConnectionString => Backends.RedisConnectionString + $",defaultDatabase={Database}";

    public static async Task<Scenario> StartAsync(Backends backends)
    {
        var database = Interlocked.Increment(ref _nextDatabase) % 15 + 1;
        var redis = await ConnectionMultiplexer.ConnectAsync(backends.RedisConnectionString + $",defaultDatabase={database}");
        await redis.GetServers()[0].FlushDatabaseAsync(database);
        // Batches parked by earlier tests point at receivers that are gone; they would only add noise.
        await using (var db = backends.CreateDbContext())
        {
            await db.RetryBatches.ExecuteDeleteAsync();
        }
        var store = await backends.CreateStoreAsync();
        return new Scenario(backends, database, redis, store.StoreId);
    }

    // Backends.CreateDbContext cannot write Pipeline.Settings (a jsonb dictionary): that needs dynamic JSON
    // enabled on the data source, as AddBeaconPostgres does.
    private static readonly Lock DataSourceLock = new();
    private static NpgsqlDataSource? _dataSource;

    public BeaconDbContext CreateDbContext()
    {
        lock (DataSourceLock)
        {
            _dataSource ??= new NpgsqlDataSourceBuilder(Backends.PostgresConnectionString).EnableDynamicJson().Build();
        }
        return new BeaconDbContext(new DbContextOptionsBuilder<BeaconDbContext>()
            .UseNpgsql(_dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
            .UseSnakeCaseNamingConvention()
            .Options);
    }

    public async Task<Pipeline> AddWebhookPipelineAsync(
        string url, IEnumerable<string>? eventTypes = null, string? previousSecret = null, DateTimeOffset? previousSecretExpiresAt = null)
    {
        var pipeline = new Pipeline
        {
            StoreId = StoreId,
            Name = "webhook " + Guid.NewGuid().ToString("N")[..6],
            Kind = PipelineKinds.Webhook,
            Url = url,
            Secret = TestSecrets.Protector.Seal(WebhookSecret.New()),
            PreviousSecret = previousSecret is null ? null : TestSecrets.Protector.Seal(previousSecret),
            PreviousSecretExpiresAt = previousSecretExpiresAt,
            EventTypes = eventTypes?.ToList() ?? [],
        };
        await using var db = CreateDbContext();
        db.Pipelines.Add(pipeline);
        await db.SaveChangesAsync();
        return pipeline;
    }

    public async Task<Pipeline> AddPostgresPipelineAsync()
    {
        var pipeline = new Pipeline
        {
            StoreId = StoreId,
            Name = "postgres",
            Kind = PipelineKinds.Postgres,
            Secret = TestSecrets.Protector.Seal(WebhookSecret.New()),
        };
        await using var db = CreateDbContext();
        db.Pipelines.Add(pipeline);
        await db.SaveChangesAsync();
        return pipeline;
    }

    public EnrichedEvent NewEvent(string eventType = "product_view", string? eventId = null) => new()
    {
        Event = new Event
        {
            EventId = eventId ?? Guid.CreateVersion7().ToString(),
            EventType = eventType,
            Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(-2)),
            SessionId = "sess-1",
            DeviceId = "dev-1",
            ProductId = "1234567",
            VariantId = "42",
            Position = 3,
            ShoppingChannel = "web",
            ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/products/x") } },
        },
        StoreId = StoreId.ToString(),
        Source = "beacon",
        ReceivedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
        GeoCountry = "US",
        GeoState = "CA",
        GeoCity = "san francisco",
        DeviceType = "desktop",
        Browser = "Chrome",
        Os = "Linux",
    };

    /// <summary>Appends one stream entry in the ingestion format: one batch field holding the events.</summary>
    public async Task<RedisValue> EnqueueAsync(IReadOnlyList<EnrichedEvent> events) =>
        await Redis.GetDatabase().StreamAddAsync(Stream, QueueEntries.Fields(events));

    /// <summary>Queues <paramref name="entries"/> entries of <paramref name="eventsPerEntry"/> new events each.</summary>
    public async Task<List<EnrichedEvent>> EnqueueManyAsync(int entries, int eventsPerEntry, string eventType = "product_view")
    {
        var all = new List<EnrichedEvent>();
        for (var i = 0; i < entries; i++)
        {
            var events = Enumerable.Range(0, eventsPerEntry).Select(_ => NewEvent(eventType)).ToList();
            await EnqueueAsync(events);
            all.AddRange(events);
        }
        return all;
    }

    /// <summary>Worker settings for tests: private destinations allowed, short polls, lingers and claim idle time.</summary>
    public Dictionary<string, string?> WorkerSettings(IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>(Backends.ServiceConfiguration)
        {
            ["ConnectionStrings:redis"] = RedisConnectionString,
            ["Delivery:AllowPrivateDestinations"] = "true",
            ["Worker:IdlePollInterval"] = "00:00:00.020",
            ["Worker:WebhookLinger"] = "00:00:00.100",
            ["Worker:PostgresLinger"] = "00:00:00.050",
            ["Worker:RetryPollInterval"] = "00:00:00.100",
            ["Worker:ClaimMinIdle"] = "00:00:03",
            ["Worker:ClaimInterval"] = "00:00:00.500",
            ["Worker:TrimInterval"] = "00:00:01",
            ["Worker:StatsFlushInterval"] = "00:00:00.500",
            ["Worker:PipelineRefreshInterval"] = "00:00:01",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>A worker inside the test process; with <paramref name="time"/> the test controls its clock.</summary>
    public IServiceProvider StartWorker(IReadOnlyDictionary<string, string?>? overrides = null, FakeTimeProvider? time = null)
    {
        var factory = new ServiceFactory<Program>(Backends, WorkerSettings(overrides)).WithWebHostBuilder(builder =>
            builder.ConfigureTestServices(services =>
            {
                if (time is not null)
                {
                    services.AddSingleton<TimeProvider>(time);
                }
            }));
        _owned.Add(factory);
        return factory.Services;
    }

    /// <summary>A worker as a separate OS process (<c>dotnet Pipelines.Worker.dll</c>), so a test can really kill it.</summary>
    public async Task<WorkerProcess> StartWorkerProcessAsync(IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var worker = await WorkerProcess.StartAsync(WorkerSettings(overrides));
        _owned.Add(worker);
        return worker;
    }

    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }
        Redis.Dispose();
    }
}
