using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Beacon.Core.Queue;
using Beacon.TestHost;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Bench;

/// <summary>
/// The whole system as <c>scripts/run</c> starts it (the Release AppHost, headless, services in Production), with its
/// own data directory and ports so it never meets a developer's <c>.beacon/</c>.
/// </summary>
internal sealed class BeaconSystem : IAsyncDisposable
{
    private readonly Process _appHost;
    private readonly string _dataDirectory;
    private readonly StreamWriter _log;

    private BeaconSystem(Process appHost, string dataDirectory, StreamWriter log, PortSet ports, string apiKey)
    {
        _appHost = appHost;
        _dataDirectory = dataDirectory;
        _log = log;
        Ports = ports;
        ApiKey = apiKey;
    }

    public sealed record PortSet(int Postgres, int Redis, int Ingestion, int IngestionGrpc, int Admin, int Worker);

    public PortSet Ports { get; }

    public string ApiKey { get; }

    public string IngestionUrl => $"http://127.0.0.1:{Ports.Ingestion}";

    public string GrpcUrl => $"http://127.0.0.1:{Ports.IngestionGrpc}";

    public int AppHostPid => _appHost.Id;

    public static async Task<BeaconSystem> StartAsync(string root, string workDirectory, IReadOnlyList<string> settings, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Postgres runs as the postgres user when the bench runs as root: it must reach its data directory.
        Directory.CreateDirectory(workDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                                 UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var dataDirectory = Path.Combine(workDirectory, "data");
        var ports = new PortSet(FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());
        var apiKey = "bk_bench_" + Guid.NewGuid().ToString("N");
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])[
                     Path.Combine(root, "AppHost", "bin", "Release", "net10.0", "AppHost.dll"),
                     "--AppHost:ServiceEnvironment", "Production", "--AppHost:Headless", "true",
                     "--AppHost:DataDirectory", dataDirectory,
                     "--AppHost:Ports:Postgres", $"{ports.Postgres}", "--AppHost:Ports:Redis", $"{ports.Redis}",
                     "--AppHost:Ports:Ingestion", $"{ports.Ingestion}", "--AppHost:Ports:IngestionGrpc", $"{ports.IngestionGrpc}",
                     "--AppHost:Ports:Admin", $"{ports.Admin}", "--AppHost:Ports:Worker", $"{ports.Worker}",
                     "--Admin:BootstrapApiKey", apiKey,
                     // The webhook receiver listens on loopback.
                     "--Delivery:AllowPrivateDestinations", "true"])
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var setting in settings)
        {
            info.ArgumentList.Add(setting);
        }
        var log = new StreamWriter(Path.Combine(workDirectory, "apphost.log")) { AutoFlush = true };
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appHost = Process.Start(info)!;
        ProcessReaper.Track(appHost.Id);
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }
            lock (log)
            {
                log.WriteLine(e.Data);
            }
            if (e.Data.Contains("[apphost] Beacon is up.", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }
        appHost.OutputDataReceived += OnLine;
        appHost.ErrorDataReceived += OnLine;
        appHost.BeginOutputReadLine();
        appHost.BeginErrorReadLine();
        var system = new BeaconSystem(appHost, dataDirectory, log, ports, apiKey);
        var exited = appHost.WaitForExitAsync(cancellationToken);
        var done = await Task.WhenAny(ready.Task, exited, Task.Delay(timeout, cancellationToken));
        if (done != ready.Task)
        {
            await system.DisposeAsync();
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException(
                $"The AppHost was not up within {timeout.TotalSeconds:0} s (exited: {appHost.HasExited}); see {Path.Combine(workDirectory, "apphost.log")}.");
        }
        return system;
    }

    public string Secret(string name) => File.ReadAllText(Path.Combine(_dataDirectory, name)).Trim();

    public NpgsqlDataSource OpenPostgres() => NpgsqlDataSource.Create(
        $"Host=127.0.0.1;Port={Ports.Postgres};Username=postgres;Password={Secret("postgres-password")};Database=beacon;Pooling=true");

    public Task<ConnectionMultiplexer> ConnectRedisAsync() =>
        ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Ports.Redis},password={Secret("redis-password")}");

    /// <summary>A store of its own with a token without rate limits and both pipelines: the events table and the webhook.</summary>
    public async Task<(Guid StoreId, string Token)> CreateBenchStoreAsync(string webhookUrl, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Ports.Admin}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        async Task<T> PostAsync<T>(string path, object body)
        {
            using var response = await http.PostAsJsonAsync(path, body, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }
            return (await response.Content.ReadFromJsonAsync<T>(cancellationToken))!;
        }
        var store = await PostAsync<Created>("/api/admin/v1/stores", new { name = "bench " + DateTime.UtcNow.ToString("u") });
        // One address sends everything: limits of its own lift the storefront defaults (600 a minute per address);
        // the limiter still runs on every request, as in production.
        var token = await PostAsync<Created>($"/api/admin/v1/stores/{store.Id}/tokens",
            new { name = "bench", rateLimitPerMinute = int.MaxValue, rateLimitPerIpPerMinute = int.MaxValue });
        await PostAsync<Created>($"/api/admin/v1/stores/{store.Id}/pipelines", new { name = "events table", kind = "postgres", enabled = true });
        await PostAsync<Created>($"/api/admin/v1/stores/{store.Id}/pipelines", new { name = "receiver", kind = "webhook", url = webhookUrl, enabled = true });
        return (store.Id, token.Token!);
    }

    private sealed record Created(Guid Id, string? Token);

    /// <summary>Stream entries not yet acked by the worker: not yet read plus read and pending.</summary>
    public static async Task<long> LagAsync(IConnectionMultiplexer redis)
    {
        var groups = await redis.GetDatabase().StreamGroupInfoAsync(QueueKeys.Stream(0));
        var group = groups.FirstOrDefault(g => g.Name == QueueKeys.ConsumerGroup);
        return group.Name is null ? 0 : (group.Lag ?? 0) + group.PendingMessageCount;
    }

    /// <summary>The processes of the system by role, found under the AppHost and its DCP (which runs apart, watching the AppHost).</summary>
    public Dictionary<string, List<int>> Processes()
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && ProcStat.Parent(pid) is { } parent)
            {
                parents[pid] = parent;
            }
        }
        var roots = new HashSet<int> { _appHost.Id };
        foreach (var pid in parents.Keys)
        {
            var command = ProcStat.CommandLine(pid);
            if (command.Length > 1 && command[0].EndsWith("/dcp", StringComparison.Ordinal) &&
                command.Contains("--monitor") && command[Array.IndexOf(command, "--monitor") + 1] == $"{_appHost.Id}")
            {
                roots.Add(pid);
            }
        }
        var children = parents.ToLookup(p => p.Value, p => p.Key);
        var roles = new Dictionary<string, List<int>>();
        var queue = new Queue<int>(roots);
        while (queue.TryDequeue(out var pid))
        {
            var role = Role(ProcStat.CommandLine(pid));
            if (!roles.TryGetValue(role, out var list))
            {
                roles[role] = list = [];
            }
            list.Add(pid);
            foreach (var child in children[pid])
            {
                queue.Enqueue(child);
            }
        }
        return roles;
    }

    public const string Ingestion = "Ingestion.Api";
    public const string Worker = "Pipelines.Worker";
    public const string Admin = "Admin.Web";
    public const string Redis = "Redis";
    public const string Postgres = "Postgres";
    public const string Orchestration = "AppHost, DCP and `dotnet run` wrappers";

    private static string Role(string[] command)
    {
        var program = command.FirstOrDefault() ?? "";
        return program switch
        {
            _ when program.EndsWith("/Ingestion.Api", StringComparison.Ordinal) => Ingestion,
            _ when program.EndsWith("/Pipelines.Worker", StringComparison.Ordinal) => Worker,
            _ when program.EndsWith("/Admin.Web", StringComparison.Ordinal) => Admin,
            _ when program.StartsWith("redis-server", StringComparison.Ordinal) || program.EndsWith("/redis-server", StringComparison.Ordinal) => Redis,
            _ when program.Contains("postgres", StringComparison.Ordinal) && !program.Contains(".nuget", StringComparison.Ordinal) => Postgres,
            _ => Orchestration,
        };
    }

    public async ValueTask DisposeAsync()
    {
        // SIGTERM: the AppHost stops the services, then Redis, then Postgres, in order (as on Ctrl+C).
        var everything = Processes().Values.SelectMany(p => p).ToList();
        if (!_appHost.HasExited)
        {
            ProcessReaper.Signal(_appHost.Id, ProcessReaper.SigTerm);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await _appHost.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        // Whatever outlived it (it should be nothing) goes the hard way.
        foreach (var pid in everything.Where(ProcStat.IsAlive))
        {
            ProcessReaper.Signal(pid, ProcessReaper.SigKill);
        }
        ProcessReaper.Untrack(_appHost.Id);
        _appHost.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
