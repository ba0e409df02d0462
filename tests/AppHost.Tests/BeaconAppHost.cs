using System.Collections.Concurrent;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Aspire.Hosting;
using Beacon.AppHost.Resources;
using Beacon.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Beacon.AppHost.Tests;

/// <summary>
/// The real AppHost (AppHost/AppHost.cs) started headless through Aspire.Hosting.Testing, on free ports, with a data
/// directory of the test's own. Remembers every process DCP started so a test can check that none is left.
/// </summary>
internal sealed class BeaconAppHost : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    private readonly ConcurrentDictionary<string, int> _pids = new();
    private readonly CancellationTokenSource _watching = new();

    private BeaconAppHost(DistributedApplication app, PortSet ports, string dataDirectory)
    {
        App = app;
        Ports = ports;
        DataDirectory = dataDirectory;
    }

    public sealed record PortSet(int Postgres, int Redis, int Ingestion, int IngestionGrpc, int Admin, int Worker)
    {
        public static PortSet Free() =>
            new(FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());

        public IEnumerable<int> All => [Postgres, Redis, Ingestion, IngestionGrpc, Admin, Worker];
    }

    public DistributedApplication App { get; }
    public PortSet Ports { get; }
    public string DataDirectory { get; }

    /// <summary>Pids of every process the run started (each resource's and their children), recorded while it ran.</summary>
    public IReadOnlyCollection<int> Pids => _pids.Values.SelectMany(pid => ProcessTree.Of(pid)).Distinct().ToList();

    public string Secret(string fileName) => File.ReadAllText(Path.Combine(DataDirectory, fileName)).Trim();

    public string PostgresConnectionString =>
        $"Host=127.0.0.1;Port={Ports.Postgres};Username=postgres;Password={Secret("postgres-password")};Database=beacon;Pooling=false";

    public static string NewDataDirectory()
    {
        var directory = Directory.CreateTempSubdirectory("beacon-apphost-").FullName;
        // The postgres user must reach its data directory when the AppHost runs as root.
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        return directory;
    }

    /// <summary>
    /// Starts the AppHost; a start that fails (a service exits before it is healthy: seen twice on a loaded machine as
    /// "admin failed to start", as when another process took its port between <see cref="PortSet.Free"/> and the bind, when
    /// admin exits 134) is reported with every resource's state and exit code to <paramref name="say"/> and tried once
    /// more on the same data and ports.
    /// </summary>
    public static async Task<BeaconAppHost> StartAsync(string dataDirectory, PortSet ports, Action<string>? say, params string[] arguments)
    {
        try
        {
            return await StartOnceAsync(dataDirectory, ports, arguments);
        }
        catch (StartFailedException failed)
        {
            say?.Invoke($"The first start failed; starting once more. {failed.Message}");
            return await StartOnceAsync(dataDirectory, ports, arguments);
        }
    }

    public static Task<BeaconAppHost> StartAsync(string dataDirectory, PortSet ports, params string[] arguments) =>
        StartAsync(dataDirectory, ports, null, arguments);

    private sealed class StartFailedException(string message, Exception inner) : Exception(message, inner);

    private static async Task<BeaconAppHost> StartOnceAsync(string dataDirectory, PortSet ports, string[] arguments)
    {
        string[] args =
        [
            "--AppHost:Headless", "true",
            // Aspire.Hosting.Testing moves proxied endpoints (replicas) to random ports; scripts/run keeps them where configured.
            "--DcpPublisher:RandomizePorts", "false",
            "--AppHost:DataDirectory", dataDirectory,
            "--AppHost:Ports:Postgres", ports.Postgres.ToString(),
            "--AppHost:Ports:Redis", ports.Redis.ToString(),
            "--AppHost:Ports:Ingestion", ports.Ingestion.ToString(),
            "--AppHost:Ports:IngestionGrpc", ports.IngestionGrpc.ToString(),
            "--AppHost:Ports:Admin", ports.Admin.ToString(),
            "--AppHost:Ports:Worker", ports.Worker.ToString(),
            .. arguments,
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        var app = await builder.BuildAsync();
        var host = new BeaconAppHost(app, ports, dataDirectory);
        _ = host.WatchPidsAsync();
        var names = app.Services.GetRequiredService<DistributedApplicationModel>().Resources.Select(r => r.Name).ToList();
        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            await app.StartAsync(timeout.Token);
            foreach (var service in new[] { "ingestion", "worker", "admin" })
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(service, timeout.Token);
            }
        }
        catch (DistributedApplicationException ex)
        {
            var report = new System.Text.StringBuilder(ex.Message);
            foreach (var name in names)
            {
                var state = app.ResourceNotifications.TryGetCurrentState(name, out var current)
                    ? $"{current.Snapshot.State?.Text} exit code {current.Snapshot.ExitCode?.ToString() ?? "-"}" : "?";
                report.Append($"\n--- {name}: {state}");
            }
            await host.DisposeAsync();
            throw new StartFailedException(report.ToString(), ex);
        }
        return host;
    }

    private async Task WatchPidsAsync()
    {
        try
        {
            await foreach (var update in App.ResourceNotifications.WatchAsync(_watching.Token))
            {
                if (update.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } value
                    && int.TryParse(value.ToString(), out var pid))
                {
                    _pids[update.ResourceId] = pid;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Each resource's (replica's) id with the pid DCP reports for it, the latest after a restart.</summary>
    public IReadOnlyDictionary<string, int> ResourcePids => _pids;

    public int PidOf(string resourceName) =>
        _pids.Single(p => p.Key == resourceName || p.Key.StartsWith(resourceName + "-", StringComparison.Ordinal)).Value;

    public async Task<T> QueryAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>What Ctrl+C does: the host's stopping phase stops services, then Redis, then Postgres.</summary>
    public async Task StopAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await App.StopAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _watching.CancelAsync();
        await App.DisposeAsync();
        _watching.Dispose();
    }
}
