using System.Net.Http.Json;
using System.Text.Json;
using Beacon.TestHost;
using Npgsql;

namespace Beacon.AppHost.Tests;

/// <summary>Runs the real AppHost end to end: local Postgres and Redis, migrations, three services, Ctrl+C.</summary>
public sealed class AppHostTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(150);
    private readonly string _dataDirectory;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public AppHostTests()
    {
        _dataDirectory = Directory.CreateTempSubdirectory("beacon-apphost-").FullName;
        // The postgres user must be able to reach its data directory when the AppHost runs as root.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_dataDirectory, (UnixFileMode)0b111_101_101);
        }
    }

    [Fact]
    public async Task AppHostStartsEverythingKeepsDataAcrossRestartsAndLeavesNoProcessBehind()
    {
        var ports = AppHostProcess.NewPorts();
        var first = AppHostProcess.Start(_dataDirectory, ports);
        List<(string Name, int Pid)> children;
        await using (first)
        {
            await first.WaitForLineAsync("Beacon is up.", StartTimeout);

            await AssertHealthyWithDependenciesAsync(ports.Ingestion);
            await AssertHealthyWithDependenciesAsync(ports.Admin);
            Assert.Contains("worker is healthy", first.Output);
            Assert.Contains($"curl -i -X POST http://localhost:{ports.Ingestion}/beacon", first.Output);
            await AssertEventsFlowToTheSeededPostgresPipelineAsync(ports);

            // A second AppHost on the same data refuses to start instead of corrupting it.
            var second = AppHostProcess.Start(_dataDirectory, AppHostProcess.NewPorts());
            await using (second)
            {
                await second.WaitForLineAsync("Another Beacon AppHost is already running", TimeSpan.FromSeconds(30));
                await WaitForExitAsync(second);
                Assert.Equal(2, second.ExitCode);
                Assert.DoesNotContain("started postgres", second.Output);
            }

            children = first.Children.ToList();
            Assert.Contains(children, c => c.Name == "postgres");
            Assert.Contains(children, c => c.Name == "redis");
            Assert.Contains(children, c => c.Name == "ingestion");
            Assert.Contains(children, c => c.Name == "worker");
            Assert.Contains(children, c => c.Name == "admin");
            // The one runtime setting that only an environment variable can make reaches Ingestion.Api (README,
            // "Ingestion settings"), and only it.
            Assert.Contains("DOTNET_GCgen0size=0x4000000", EnvironmentOf(children.Single(c => c.Name == "ingestion").Pid));
            Assert.DoesNotContain("DOTNET_GCgen0size=0x4000000", EnvironmentOf(children.Single(c => c.Name == "worker").Pid));

            await first.InterruptAsync(TimeSpan.FromSeconds(90));
            Assert.Equal(0, first.ExitCode);
        }
        await AssertAllGoneAsync(children, ports);

        var devToken = await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "dev-token"));

        // Restart on the same data, this time with replicas: the seeded store is still there, not seeded twice.
        var restarted = AppHostProcess.Start(_dataDirectory, ports, null, "--replicas", "ingestion=2,worker=2");
        await using (restarted)
        {
            await restarted.WaitForLineAsync("Beacon is up.", StartTimeout);
            Assert.Contains("ingestion-1 is healthy", restarted.Output);
            Assert.Contains("worker-1 is healthy", restarted.Output);
            Assert.DoesNotContain("initialising Postgres", restarted.Output);
            Assert.Equal(devToken, await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "dev-token")));

            await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={ports.Postgres};Username=postgres;Database=beacon");
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM stores WHERE name = 'Dev Store'", connection);
            Assert.Equal(1L, await count.ExecuteScalarAsync());
            await using var token = new NpgsqlCommand("SELECT count(*) FROM access_tokens WHERE token_hash = @hash", connection);
            token.Parameters.AddWithValue("hash", Beacon.Core.Security.TokenHasher.Hash(devToken.Trim()));
            Assert.Equal(1L, await token.ExecuteScalarAsync());
            NpgsqlConnection.ClearAllPools();

            children = restarted.Children.ToList();
            Assert.Equal(2, children.Count(c => c.Name.StartsWith("ingestion-", StringComparison.Ordinal)));
            await restarted.InterruptAsync(TimeSpan.FromSeconds(90));
            Assert.Equal(0, restarted.ExitCode);
        }
        await AssertAllGoneAsync(children, ports);
    }

    private static string[] EnvironmentOf(int pid) => File.ReadAllText($"/proc/{pid}/environ").Split('\0');

    [Fact]
    public async Task ConnectionStringsGivenInConfigurationReplaceTheLocalServers()
    {
        var backends = await Backends.GetAsync();
        var ports = AppHostProcess.NewPorts();
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__beacondb"] = backends.PostgresConnectionString,
            ["ConnectionStrings__redis"] = backends.RedisConnectionString,
        };
        await using var apphost = AppHostProcess.Start(_dataDirectory, ports, environment);
        await apphost.WaitForLineAsync("Beacon is up.", StartTimeout);

        Assert.DoesNotContain("started postgres", apphost.Output);
        Assert.DoesNotContain("started redis", apphost.Output);
        await AssertHealthyWithDependenciesAsync(ports.Ingestion);
        await using var db = backends.CreateDbContext();
        Assert.Contains(db.Stores, s => s.Name == "Dev Store");
    }

    /// <summary>The whole path across processes: /beacon → Redis stream → worker → the dev store's events table.</summary>
    private async Task AssertEventsFlowToTheSeededPostgresPipelineAsync(AppHostProcess.PortSet ports)
    {
        var devToken = (await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "dev-token"))).Trim();
        var sessionId = $"apphost-{Guid.NewGuid():N}";
        var body = $$"""
            {"events":[
             {"event_type":"product_click","timestamp":"2025-01-15T14:30:00Z","session_id":"{{sessionId}}","device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd","product_id":7003338965178,"position":3},
             {"event_type":"collection_view","timestamp":"2025-01-15T14:29:45Z","session_id":"{{sessionId}}","device_id":"device-uuid","collection_handle":"summer-collection"},
             {"event_type":"block_view","timestamp":"2025-01-15T14:30:15Z","session_id":"{{sessionId}}","device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd"}]}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://localhost:{ports.Ingestion}/beacon")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Storefront-Access-Token", devToken);
        using var response = await _http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("null", await response.Content.ReadAsStringAsync());

        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={ports.Postgres};Username=postgres;Database=beacon");
        await connection.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<string> types;
        do
        {
            await Task.Delay(250);
            await using var query = new NpgsqlCommand(
                "SELECT e.event_type FROM events e JOIN stores s ON s.id = e.store_id WHERE s.name = 'Dev Store' AND e.session_id = @session ORDER BY e.event_type", connection);
            query.Parameters.AddWithValue("session", sessionId);
            types = [];
            await using var reader = await query.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                types.Add(reader.GetString(0));
            }
        }
        while (types.Count < 3 && DateTime.UtcNow < deadline);
        Assert.Equal(["block_view", "collection_view", "product_click"], types);
        NpgsqlConnection.ClearAllPools();
    }

    private async Task AssertHealthyWithDependenciesAsync(int port)
    {
        using var response = await _http.GetAsync($"http://localhost:{port}/health");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var health = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Healthy", health.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
        Assert.Equal("Healthy", health.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
    }

    private static async Task AssertAllGoneAsync(IEnumerable<(string Name, int Pid)> children, AppHostProcess.PortSet ports)
    {
        foreach (var (name, pid) in children)
        {
            Assert.False(ProcessReaper.IsAlive(pid), $"{name} (pid {pid}) is still running after Ctrl+C");
        }
        // Postgres backends are grandchildren: nothing may listen on the ports any more.
        foreach (var port in new[] { ports.Postgres, ports.Redis, ports.Ingestion, ports.Admin, ports.Worker })
        {
            using var client = new System.Net.Sockets.TcpClient();
            await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => client.ConnectAsync("127.0.0.1", port));
        }
    }

    private static async Task WaitForExitAsync(AppHostProcess process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!process.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.True(process.HasExited);
    }

    public void Dispose()
    {
        _http.Dispose();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
