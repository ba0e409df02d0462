using System.Diagnostics;
using Npgsql;

namespace Beacon.TestHost;

/// <summary>
/// A throwaway Postgres 15 cluster on a free port in a temporary folder (like Testcontainers, without
/// Docker). Durability is switched off for speed: the data is thrown away with the folder.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly string BinDirectory = FindBinDirectory();

    private readonly string _dataDirectory;
    private int _pid;

    private PostgresServer(string root, int port)
    {
        Root = root;
        Port = port;
        _dataDirectory = Path.Combine(root, "data");
    }

    public string Root { get; }
    public int Port { get; }
    public string ConnectionString(string database = "beacon") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Maximum Pool Size=50;Timeout=5";

    public static async Task<PostgresServer> StartAsync()
    {
        var root = Directory.CreateTempSubdirectory("beacon-test-pg-").FullName;
        var server = new PostgresServer(root, FreePort.Next());
        try
        {
            await server.InitAndStartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task InitAndStartAsync()
    {
        if (Environment.UserName == "root")
        {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            await ExternalProcess.RunAsync("chown", ["-R", "postgres:postgres", Root], TimeSpan.FromSeconds(10));
            await ExternalProcess.RunAsync("chmod", ["755", Root], TimeSpan.FromSeconds(10));
        }
        var (initdb, initArgs) = ExternalProcess.AsUser("postgres", Path.Combine(BinDirectory, "initdb"),
            ["-D", _dataDirectory, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]);
        await ExternalProcess.RunAsync(initdb, initArgs, TimeSpan.FromSeconds(60));
        await StartServerAsync();

        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand("CREATE DATABASE beacon", connection);
        await create.ExecuteNonQueryAsync();
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>, with its data (e.g. to end an outage).</summary>
    public Task RestartAsync() => _pid == 0 ? StartServerAsync() : Task.CompletedTask;

    private async Task StartServerAsync()
    {
        var options = $"-p {Port} -k {Root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " +
                      "-c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB";
        var (pgctl, ctlArgs) = ExternalProcess.AsUser("postgres", Path.Combine(BinDirectory, "pg_ctl"),
            ["-D", _dataDirectory, "-l", Path.Combine(Root, "postgres.log"), "-o", options, "-w", "-t", "60", "start"]);
        await ExternalProcess.RunAsync(pgctl, ctlArgs, TimeSpan.FromSeconds(90));
        _pid = int.Parse(File.ReadLines(Path.Combine(_dataDirectory, "postmaster.pid")).First());
        ProcessReaper.Track(_pid);
    }

    /// <summary>Creates another empty database on this server (for tests that need one of their own).</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>A plain-text <c>pg_dump</c> of a database, schema and data: what a leaked backup would show.</summary>
    public Task<string> DumpAsync(string database = "beacon") =>
        ExternalProcess.RunAsync(Path.Combine(BinDirectory, "pg_dump"),
            ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "--no-owner", database],
            TimeSpan.FromSeconds(60));

    /// <summary>Stops the server at once (SIGQUIT: immediate shutdown), e.g. to test behaviour while Postgres is down.</summary>
    public async Task StopAsync()
    {
        if (_pid == 0)
        {
            return;
        }
        NpgsqlConnection.ClearAllPools();
        ProcessReaper.Signal(_pid, ProcessReaper.SigQuit);
        await ProcessReaper.WaitForExitAsync(_pid, TimeSpan.FromSeconds(30));
        ProcessReaper.Untrack(_pid);
        _pid = 0;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("BEACON_PG_BIN");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }
        var versions = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d).ToList()
            : [];
        return versions.Select(v => Path.Combine(v, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            ?? throw new InvalidOperationException("Postgres binaries not found: install postgresql-15 or set BEACON_PG_BIN");
    }
}
