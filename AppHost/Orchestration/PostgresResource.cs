using System.Diagnostics;
using Npgsql;

namespace Beacon.AppHost.Orchestration;

/// <summary>
/// Postgres from the machine's binaries with its data under <c>.beacon/postgres</c>. When the AppHost runs as root
/// the cluster is owned by and runs as the <c>postgres</c> user (initdb refuses root).
/// </summary>
internal sealed class PostgresResource(string dataRoot, int port, string database) : IAsyncDisposable
{
    private readonly string _dataDirectory = Path.Combine(dataRoot, "postgres");
    private ChildProcess? _process;

    public string ConnectionString => $"Host=127.0.0.1;Port={port};Username=postgres;Database={database}";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDirectory();
        var runAsPostgres = Environment.UserName == "root";
        if (runAsPostgres)
        {
            await EnsureReachableByPostgresUserAsync(cancellationToken);
        }
        if (!File.Exists(Path.Combine(_dataDirectory, "PG_VERSION")))
        {
            ConsoleLog.Info($"initialising Postgres in {_dataDirectory}");
            Directory.CreateDirectory(_dataDirectory);
            if (runAsPostgres)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", _dataDirectory], cancellationToken);
            }
            await RunAsync(Wrap(runAsPostgres, Path.Combine(bin, "initdb")),
                WrapArgs(runAsPostgres, Path.Combine(bin, "initdb"), ["-D", _dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                cancellationToken);
        }

        var postgres = Path.Combine(bin, "postgres");
        _process = ChildProcess.Start("postgres", Wrap(runAsPostgres, postgres),
            WrapArgs(runAsPostgres, postgres, ["-D", _dataDirectory, "-p", port.ToString(), "-k", "/tmp", "-c", "listen_addresses=127.0.0.1"]),
            new Dictionary<string, string?>(), dataRoot);

        await WaitUntilReadyAsync(cancellationToken);
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres" }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
        exists.Parameters.AddWithValue("name", database);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
        ConsoleLog.Info($"postgres is healthy on port {port}");
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres", Timeout = 2 }.ConnectionString;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"postgres exited with code {_process.ExitCode} (is another Beacon AppHost or Postgres using port {port}?)");
            }
            try
            {
                await using var connection = new NpgsqlConnection(admin);
                await connection.OpenAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    /// <summary>Fast shutdown (SIGINT to the postmaster): sessions are ended, data is checkpointed.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }
        NpgsqlConnection.ClearAllPools();
        var pidFile = Path.Combine(_dataDirectory, "postmaster.pid");
        int? postmaster = File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) ? pid : null;
        await _process.StopAsync(TimeSpan.FromSeconds(30), ChildProcess.SigInt, postmaster);
        if (postmaster is { } remaining && ChildProcess.IsAlive(remaining))
        {
            await _process.StopAsync(TimeSpan.FromSeconds(5), ChildProcess.SigKill, remaining);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    private async Task EnsureReachableByPostgresUserAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync("runuser", ["-u", "postgres", "--", "test", "-x", dataRoot], cancellationToken);
        }
        catch (InvalidOperationException)
        {
            throw new InvalidOperationException(
                $"The postgres user cannot reach {dataRoot} (a parent folder is private to root). " +
                "Set AppHost__DataDirectory to a folder it can reach, e.g. /var/lib/beacon, or clone Beacon elsewhere.");
        }
    }

    private static string Wrap(bool runAsPostgres, string fileName) => runAsPostgres ? "runuser" : fileName;

    private static IEnumerable<string> WrapArgs(bool runAsPostgres, string fileName, IEnumerable<string> arguments) =>
        runAsPostgres ? ["-u", "postgres", "--", fileName, .. arguments] : arguments;

    private static async Task RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} failed ({process.ExitCode}): {await output}{await error}");
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("BEACON_PG_BIN");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin"))
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "postgres")))
            ?? throw new InvalidOperationException("Postgres binaries not found: run scripts/run (installs postgresql-15) or set BEACON_PG_BIN");
    }
}
