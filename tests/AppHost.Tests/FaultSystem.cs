using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Aspire.Hosting.ApplicationModel;
using Beacon.AppHost.Resources;
using Beacon.TestHost;
using StackExchange.Redis;

namespace Beacon.AppHost.Tests;

/// <summary>
/// The real AppHost as the fault scenarios need it, started once for all of them: two ingestion and two worker
/// replicas behind DCP's proxy, Redis with <c>appendfsync always</c> (a SIGKILL loses no acknowledged write), a
/// reclaim after 10 s instead of 2 min, and a retry schedule of minutes instead of hours. Each scenario gets a store,
/// token and receiver of its own, so one scenario's events never count in another's figures.
/// </summary>
public class FaultSystem : IAsyncLifetime
{
    /// <summary>
    /// Delays between webhook attempts: 5 s … 5 min, 16.75 min in all, so a 10-minute outage is ridden out even when
    /// every delay is drawn <see cref="RetryJitter"/> short (13.4 min; with 5 min less a batch could be dead-lettered).
    /// </summary>
    public static readonly string[] RetrySchedule = ["00:00:05", "00:00:10", "00:00:30", "00:01:00", "00:02:00", "00:03:00", "00:05:00", "00:05:00"];

    /// <summary>Each retry delay is drawn within ± this fraction of the schedule's (the worker's default).</summary>
    public const double RetryJitter = 0.2;

    public static readonly TimeSpan ClaimMinIdle = TimeSpan.FromSeconds(10);

    private readonly string _dataDirectory = BeaconAppHost.NewDataDirectory();
    private readonly string _apiKey = "bk_admin_" + Guid.NewGuid().ToString("N");
    private readonly string? _redisTmpfsSize;
    private readonly int _redisClusterMasters;
    private readonly string[] _extraArguments;
    private bool _redisOnTmpfs;
    private BeaconAppHost? _system;

    public FaultSystem()
        : this(redisTmpfsSize: null)
    {
    }

    /// <param name="redisTmpfsSize">When given (<c>64M</c>), Redis' data directory is a tmpfs of that size, which a
    /// scenario can fill (<see cref="RedisDataDirectory"/>); skipped where mounting is not allowed.</param>
    /// <param name="redisClusterMasters">When above 0, a local Redis Cluster of that many masters with a replica each
    /// (<c>--AppHost:RedisCluster</c>) instead of one Redis.</param>
    /// <param name="extraArguments">More AppHost arguments (<c>--Queue:ReplicaAcks 1</c>).</param>
    protected FaultSystem(string? redisTmpfsSize, int redisClusterMasters = 0, params string[] extraArguments)
    {
        _redisTmpfsSize = redisTmpfsSize;
        _redisClusterMasters = redisClusterMasters;
        _extraArguments = extraArguments;
    }

    /// <summary>Where the AppHost keeps Redis' files (<c>redis.conf</c>, <c>appendonlydir/</c>): <c>redis/</c> under its data directory.</summary>
    public string RedisDataDirectory => Path.Combine(_dataDirectory, "redis");

    public bool RedisOnTmpfs => _redisOnTmpfs;

    internal BeaconAppHost System => _system ?? throw new InvalidOperationException("not started");

    public string IngestionUrl => $"http://127.0.0.1:{System.Ports.Ingestion}";

    /// <summary>Redis' port, or the cluster's nodes' (<c>redis-1</c> on the first, …).</summary>
    public IReadOnlyList<int> RedisPorts => _redisClusterMasters > 0
        ? Enumerable.Range(System.Ports.Redis, _redisClusterMasters * 2).ToList()
        : [System.Ports.Redis];

    public async Task InitializeAsync()
    {
        var ports = BeaconAppHost.PortSet.Free();
        if (_redisClusterMasters > 0)
        {
            ports = ports with { Redis = FreePort.RunForRedisCluster(_redisClusterMasters * 2, taken: ports.All) };
        }
        string[] arguments =
        [
            "--replicas", "ingestion=2,worker=2",
            "--AppHost:AppendFsync", "always",
            "--Admin:BootstrapApiKey", _apiKey,
            "--Delivery:AllowPrivateDestinations", "true",
            "--Worker:ClaimMinIdle", ClaimMinIdle.ToString(),
            "--Worker:ClaimInterval", "00:00:02",
            "--Worker:WebhookLinger", "00:00:00.200",
            "--Worker:PipelineRefreshInterval", "00:00:05",
            .. RetrySchedule.SelectMany((delay, i) => new[] { $"--Worker:RetrySchedule:{i}", delay }),
            "--Worker:RetryJitter", RetryJitter.ToString(CultureInfo.InvariantCulture),
            .. _redisClusterMasters > 0 ? ["--AppHost:RedisCluster", _redisClusterMasters.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>(),
            .. _extraArguments,
        ];
        if (_redisTmpfsSize is not null)
        {
            // Its scenarios are skipped then (TmpfsFact): no system to start for them.
            if (Tmpfs.Refusal is not null)
            {
                return;
            }
            _redisOnTmpfs = Tmpfs.Mount(RedisDataDirectory, _redisTmpfsSize) is null;
        }
        _system = await BeaconAppHost.StartAsync(_dataDirectory, ports, arguments);
    }

    /// <summary>A store with a token without rate limits (one address sends everything) and both pipelines.</summary>
    public async Task<(Guid StoreId, string Token)> CreateStoreAsync(string name, string webhookUrl)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{System.Ports.Admin}"), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        async Task<Created> PostAsync(string path, object body)
        {
            using var response = await http.PostAsJsonAsync(path, body);
            Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return (await response.Content.ReadFromJsonAsync<Created>())!;
        }
        var store = await PostAsync("/api/admin/v1/stores", new { name });
        var token = await PostAsync($"/api/admin/v1/stores/{store.Id}/tokens",
            new { name = "faults", rateLimitPerMinute = int.MaxValue, rateLimitPerIpPerMinute = int.MaxValue });
        await PostAsync($"/api/admin/v1/stores/{store.Id}/pipelines", new { name = "events table", kind = "postgres", enabled = true });
        await PostAsync($"/api/admin/v1/stores/{store.Id}/pipelines", new { name = "receiver", kind = "webhook", url = webhookUrl, enabled = true });
        return (store.Id, token.Token!);
    }

    private sealed record Created(Guid Id, string? Token);

    public Task<ConnectionMultiplexer> ConnectRedisAsync() =>
        ConnectionMultiplexer.ConnectAsync(string.Join(",", RedisPorts.Select(p => $"127.0.0.1:{p}")) +
                                           $",password={System.Secret("redis-password")},allowAdmin=true,abortConnect=false");

    /// <summary>How many of <paramref name="ids"/> the events table holds (each counted once).</summary>
    public async Task<HashSet<string>> InEventsTableAsync(IReadOnlyCollection<string> ids)
    {
        await using var connection = new Npgsql.NpgsqlConnection(System.PostgresConnectionString);
        await connection.OpenAsync();
        // Hundreds of thousands of ids on a shared, busy machine take longer than Npgsql's default 30 s.
        await using var command = new Npgsql.NpgsqlCommand("SELECT DISTINCT event_id FROM events WHERE event_id = ANY(@ids)", connection)
        {
            CommandTimeout = 300,
        };
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var found = new HashSet<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            found.Add(reader.GetString(0));
        }
        return found;
    }

    public sealed record Attempt(Guid BatchId, int Number, DateTime At, TimeSpan Duration, string Outcome)
    {
        public DateTime End => At + Duration;
    }

    /// <summary>Every delivery attempt the workers recorded for a store's pipelines (<c>delivery_attempts</c>), by batch and attempt.</summary>
    public async Task<IReadOnlyList<Attempt>> AttemptsAsync(Guid storeId)
    {
        await using var connection = new Npgsql.NpgsqlConnection(System.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT batch_id, attempt, at, duration_ms, outcome FROM delivery_attempts WHERE store_id = @store ORDER BY batch_id, attempt", connection)
        {
            CommandTimeout = 300,
        };
        command.Parameters.AddWithValue("store", storeId);
        var attempts = new List<Attempt>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            attempts.Add(new Attempt(reader.GetGuid(0), reader.GetInt32(1), reader.GetDateTime(2),
                TimeSpan.FromMilliseconds(reader.GetInt32(3)), reader.GetString(4)));
        }
        return attempts;
    }

    /// <summary>The resource ids of a service's replicas (<c>worker-abcd1234</c>, …) with the pid of each one's service process.</summary>
    public IReadOnlyList<(string ResourceId, int Pid)> Replicas(string service) =>
        System.ResourcePids.Where(p => p.Key.StartsWith(service + "-", StringComparison.Ordinal) || p.Key == service)
            .Select(p => (p.Key, ProcessTree.Of(p.Value).Last()))
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .ToList();

    /// <summary>SIGKILLs a resource's whole process tree (the service, its <c>dotnet run</c> wrapper): a crash, not a stop.</summary>
    public static void Kill(int pid)
    {
        foreach (var process in ProcessTree.Of(pid).Reverse().ToList())
        {
            ProcessReaper.Signal(process, ProcessReaper.SigKill);
        }
    }

    /// <summary>
    /// Starts a resource (one replica, by id; or a resource of one instance, by name) again after a kill, and waits
    /// until its new process is healthy.
    /// </summary>
    public async Task StartAgainAsync(string resourceIdOrName, bool waitHealthy = true)
    {
        var since = DateTime.UtcNow;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        // A name (redis, beacondb) is not an id (redis-abcd1234): the start command takes either, the notifications
        // carry the id only, so a wait for the name alone would never see the restart.
        var resourceId = System.App.ResourceNotifications.TryGetCurrentState(resourceIdOrName, out var current)
            ? current.ResourceId
            : throw new InvalidOperationException($"no resource {resourceIdOrName}");
        // DCP notices the exit a moment later; until then "start" is refused as the resource is still running.
        while (true)
        {
            var result = await System.App.ResourceCommands.ExecuteCommandAsync(resourceId, KnownResourceCommands.StartCommand, timeout.Token);
            if (result.Success)
            {
                break;
            }
            await Task.Delay(500, timeout.Token);
        }
        if (!waitHealthy)
        {
            return;
        }
        // By replica id: WaitForResourceHealthyAsync takes a resource name, which every replica shares.
        await foreach (var update in System.App.ResourceNotifications.WatchAsync(timeout.Token))
        {
            if (update.ResourceId == resourceId && update.Snapshot.StartTimeStamp >= since.AddSeconds(-1)
                && update.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
            {
                return;
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (_system is { } system)
        {
            await system.StopAsync();
            await system.DisposeAsync();
        }
        if (_redisOnTmpfs)
        {
            Tmpfs.Unmount(RedisDataDirectory);
        }
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
