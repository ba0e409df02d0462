using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text;
using Aspire.Hosting.ApplicationModel;
using Beacon.AppHost.Resources;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Sdk.BrowserTests.Infrastructure;
using Beacon.TestHost;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Beacon.AppHost.Tests;

/// <summary>
/// The system as <c>scripts/run</c> starts it (the real Aspire AppHost, headless): a browser's first events right after
/// ready, both doors to the events table and a webhook, a worker restart, Ctrl+C leaving no process, and a restart on
/// the same data with replicas.
/// </summary>
[Collection(nameof(WholeSystemTests))]
public sealed class WholeSystemTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(90);
    private readonly string _dataDirectory = BeaconAppHost.NewDataDirectory();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly string _devToken = "bk_dev_" + Guid.NewGuid().ToString("N");
    private readonly string _apiKey = "bk_admin_" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task EventsFromBothDoorsReachTheEventsTableAndAWebhookAcrossAWorkerRestartAndCtrlCLeavesNothing()
    {
        var sinceStart = Stopwatch.StartNew();
        // Each step's time in the test's output: a failure then says how far the run got, and how fast.
        void Step(string what) => output.WriteLine($"{sinceStart.Elapsed.TotalSeconds,6:0.0} s  {what}");
        await using var receiver = await WebhookReceiver.StartAsync();
        // Up before the system, so nothing but the page stands between "healthy" and the first events.
        await using var storefront = await StorefrontServer.StartAsync();
        await using var chromium = await Chromium.LaunchAsync();
        var ports = BeaconAppHost.PortSet.Free();
        IReadOnlyCollection<int> pids;
        var sent = new List<string>();

        await using (var system = await BeaconAppHost.StartAsync(_dataDirectory, ports, output.WriteLine,
            // Each of these reaches only the service it configures, as an argument of the AppHost.
            "--Beacon:DevToken", _devToken,
            "--Admin:BootstrapApiKey", _apiKey,
            "--Delivery:AllowPrivateDestinations", "true",
            "--Ingestion:MaxBodyBytes", "65536",
            "--Worker:WebhookLinger", "00:00:00.200"))
        {
            Step("healthy");
            var sinceHealthy = Stopwatch.StartNew();
            // Before any event, so the browser's first events test the start, not the announcement of a change
            // (PipelineChangeTests).
            var storeId = await DevStoreIdAsync(ports.Admin, _apiKey);
            await CreateWebhookPipelineAsync(ports.Admin, _apiKey, storeId, receiver.Url);
            Step("webhook pipeline created");

            // Ingestion.Api's first events. Issue 12: right after a fresh start, 0 of 2 were stored while the first
            // request took seconds.
            var fromBrowser = await TrackTwoEventsAndCloseTheBrowserHalfASecondAfterLeavingAsync(chromium, storefront, ports.Ingestion);
            var closed = sinceHealthy.Elapsed;
            await AssertDeliveredAsync(system, receiver, fromBrowser);
            output.WriteLine($"Browser closed {closed.TotalMilliseconds:N0} ms after healthy; both events in the events table and at the webhook {sinceHealthy.Elapsed.TotalMilliseconds:N0} ms after healthy");
            sent.AddRange(fromBrowser);

            Step("the browser's events delivered");
            AssertServiceEnvironments(system);
            await AssertEachServiceHasItsOwnDatabaseRoleAsync(system);
            await AssertASecondAppHostOnTheSameDataRefusesAsync();
            Step("roles checked, a second AppHost refused");

            sent.AddRange(await SendBeaconAsync(ports.Ingestion, _devToken, 3));
            sent.AddRange(await SendGrpcAsync(ports.IngestionGrpc, _devToken, 2));
            await AssertDeliveredAsync(system, receiver, sent);
            // Queued before these, so any second copy of the browser's events would have been stored by now.
            Assert.Equal(fromBrowser.Count, await system.QueryAsync<long>(
                "SELECT count(*) FROM events WHERE event_id = ANY(@ids)", ("ids", fromBrowser.ToArray())));
            await AssertEachServiceHasItsOwnRedisUserAsync(system);
            Step("both doors delivered, Redis users checked");

            // Ingestion's body limit came from the AppHost's argument.
            using var tooLarge = BeaconRequest(ports.Ingestion, _devToken, "{\"events\":[{\"query\":\"" + new string('x', 70_000) + "\"}]}");
            using var refused = await _http.SendAsync(tooLarge);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);

            Step("body limit checked");
            var workerBefore = system.PidOf("worker");
            var restart = await system.App.ResourceCommands.ExecuteCommandAsync("worker", KnownResourceCommands.RestartCommand);
            Assert.True(restart.Success, restart.Message);
            await system.App.ResourceNotifications.WaitForResourceHealthyAsync("worker");
            await WaitUntilAsync(() => system.PidOf("worker") != workerBefore, "the worker got a new process");
            sent.AddRange(await SendBeaconAsync(ports.Ingestion, _devToken, 2));
            await AssertDeliveredAsync(system, receiver, sent);

            Step("delivered after the worker's restart");
            pids = system.Pids;
            Assert.True(pids.Count >= 5, $"only {pids.Count} processes recorded");
            await system.StopAsync();
        }
        await AssertNothingLeftAsync(pids, ports.All);
        Step("stopped, nothing left");
        Assert.False(File.Exists(Path.Combine(_dataDirectory, "postgres", "postmaster.pid")), "Postgres did not shut down cleanly");

        // The same data again, with replicas behind DCP's proxy: nothing seeded twice, nothing lost.
        await using (var restarted = await BeaconAppHost.StartAsync(_dataDirectory, ports, output.WriteLine, "--replicas", "ingestion=2,worker=2"))
        {
            Assert.Equal(1L, await restarted.QueryAsync<long>("SELECT count(*) FROM stores WHERE name = 'Dev Store'"));
            Assert.Equal((long)sent.Count, await restarted.QueryAsync<long>(
                "SELECT count(*) FROM events WHERE event_id = ANY(@ids)", ("ids", sent.ToArray())));
            Assert.Equal(_devToken, restarted.Secret("dev-token"));
            var more = await SendBeaconAsync(ports.Ingestion, _devToken, 4);
            await WaitUntilAsync(async () => await restarted.QueryAsync<long>(
                "SELECT count(*) FROM events WHERE event_id = ANY(@ids)", ("ids", more.ToArray())) == more.Count, "replicated system delivers");
            pids = restarted.Pids;
            await restarted.StopAsync();
        }
        await AssertNothingLeftAsync(pids, ports.All);
    }

    [Fact]
    public async Task WithRedisClusterSetTheSystemRunsOnThreeMastersAndThreeReplicasAndSplitsTheQueueOverThem()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var free = BeaconAppHost.PortSet.Free();
        var ports = free with { Redis = FreePort.RunForRedisCluster(6, taken: free.All) };
        var nodePorts = Enumerable.Range(ports.Redis, 6).ToList();
        string[] arguments = ["--AppHost:RedisCluster", "3", "--Beacon:DevToken", _devToken, "--Admin:BootstrapApiKey", _apiKey,
            "--Delivery:AllowPrivateDestinations", "true", "--Worker:WebhookLinger", "00:00:00.200"];
        IReadOnlyCollection<int> pids;
        Guid storeId;
        await using (var system = await BeaconAppHost.StartAsync(_dataDirectory, ports, output.WriteLine, arguments))
        {
            foreach (var service in new[] { "ingestion", "worker", "admin" })
            {
                Assert.Contains("Queue__Partitions=3", EnvironmentOf(system, service));
            }
            await using (var redis = await ConnectClusterAsync(system, nodePorts))
            {
                Assert.Equal(3, redis.GetServers().Count(s => s.IsConnected && !s.IsReplica));
                Assert.Equal(3, redis.GetServers().Count(s => s.IsConnected && s.IsReplica));
                storeId = await DevStoreIdAsync(ports.Admin, _apiKey);
                await CreateWebhookPipelineAsync(ports.Admin, _apiKey, storeId, receiver.Url);
                var sent = await SendBeaconAsync(ports.Ingestion, _devToken, 5);
                await AssertDeliveredAsync(system, receiver, sent);
                // The store's partition of three, on whichever master holds its hash tag.
                Assert.True(await redis.GetDatabase().KeyExistsAsync(QueueKeys.Stream(QueueKeys.PartitionOf(storeId, 3))));
            }
            pids = system.Pids;
            await system.StopAsync();
        }
        await AssertNothingLeftAsync(pids, ports.All.Concat(nodePorts));

        // Started again on the same data: the nodes find each other from nodes.conf, nothing is formed twice.
        await using (var restarted = await BeaconAppHost.StartAsync(_dataDirectory, ports, output.WriteLine, arguments))
        {
            var more = await SendBeaconAsync(ports.Ingestion, _devToken, 3);
            await AssertDeliveredAsync(restarted, receiver, more);
            pids = restarted.Pids;
            await restarted.StopAsync();
        }
        await AssertNothingLeftAsync(pids, ports.All.Concat(nodePorts));
    }

    /// <summary>
    /// A storefront page (another origin) loads the SDK from Ingestion.Api as docs/sdk.md shows, tracks two events,
    /// the shopper follows a link and the browser is closed 0.5 s later: only the SDK's beacon at pagehide carries them.
    /// </summary>
    private async Task<List<string>> TrackTwoEventsAndCloseTheBrowserHalfASecondAfterLeavingAsync(
        Chromium chromium, StorefrontServer storefront, int ingestionPort)
    {
        List<string> ids = [Guid.NewGuid().ToString(), Guid.NewGuid().ToString()];
        var endpoint = $"http://127.0.0.1:{ingestionPort}";
        var page = await chromium.NewPageAsync();
        await page.GotoAsync(storefront.AddPage($$"""
            <!doctype html>
            <html>
            <head>
              <meta charset="utf-8">
              <title>Storefront</title>
              <script src="{{endpoint}}/sdk/beacon.js"></script>
            </head>
            <body>
              <script>
                Beacon.init({ token: '{{_devToken}}', endpoint: '{{endpoint}}' });
                Beacon.track('page_view', { event_id: '{{ids[0]}}' });
                Beacon.track('product_view', { event_id: '{{ids[1]}}', product_id: '7003338965178' });
              </script>
            </body>
            </html>
            """));
        await page.GotoAsync(storefront.NextPageUrl);
        await Task.Delay(TimeSpan.FromSeconds(0.5));
        await chromium.Browser.CloseAsync();
        return ids;
    }

    private static Task<ConnectionMultiplexer> ConnectClusterAsync(BeaconAppHost system, IEnumerable<int> ports) =>
        ConnectionMultiplexer.ConnectAsync(string.Join(",", ports.Select(p => $"127.0.0.1:{p}")) + $",password={system.Secret("redis-password")},abortConnect=false");

    private static void AssertServiceEnvironments(BeaconAppHost system)
    {
        var ingestion = EnvironmentOf(system, "ingestion");
        var worker = EnvironmentOf(system, "worker");
        var admin = EnvironmentOf(system, "admin");
        Assert.Contains("ASPNETCORE_ENVIRONMENT=Production", ingestion);
        Assert.Contains("DOTNET_GCgen0size=0x4000000", ingestion);
        Assert.DoesNotContain("DOTNET_GCgen0size=0x4000000", worker);
        // Headless: no collector, so no OTLP endpoint (each service would wait ~10 s at exit to flush).
        Assert.DoesNotContain(ingestion, v => v.StartsWith("OTEL_EXPORTER_OTLP_ENDPOINT=", StringComparison.Ordinal));
        // Admin secrets reach the admin site only.
        Assert.Contains(admin, v => v.StartsWith("Admin__BootstrapPassword=", StringComparison.Ordinal));
        foreach (var environment in new[] { ingestion, worker })
        {
            Assert.DoesNotContain(environment, v => v.StartsWith("Admin__", StringComparison.Ordinal) || v.StartsWith("Beacon__DevToken=", StringComparison.Ordinal));
        }
        // The master key (webhook secrets, Data Protection keys) reaches the services that decrypt, never ingestion.
        Assert.Contains(admin, v => v.StartsWith("Beacon__MasterKey=", StringComparison.Ordinal));
        Assert.Contains(worker, v => v.StartsWith("Beacon__MasterKey=", StringComparison.Ordinal));
        Assert.DoesNotContain(ingestion, v => v.StartsWith("Beacon__MasterKey", StringComparison.Ordinal));
        Assert.Contains("Ingestion__MaxBodyBytes=65536", ingestion);
        Assert.Contains("Delivery__AllowPrivateDestinations=true", worker);
        Assert.DoesNotContain("Delivery__AllowPrivateDestinations=true", ingestion);
    }

    /// <summary>
    /// Each service connects with its own role (DESIGN §5): ingestion may read access tokens and nothing else, the
    /// admin site changes rows but no table, the worker owns the tables for their partitions; none is a superuser.
    /// </summary>
    private static async Task AssertEachServiceHasItsOwnDatabaseRoleAsync(BeaconAppHost system)
    {
        var connections = new Dictionary<string, string>();
        foreach (var (resource, role) in new[] { ("ingestion", "beacon_ingestion"), ("worker", "beacon_worker"), ("admin", "beacon_admin") })
        {
            var connectionString = EnvironmentOf(system, resource).Single(v => v.StartsWith("ConnectionStrings__beacondb=", StringComparison.Ordinal))["ConnectionStrings__beacondb=".Length..];
            Assert.Equal(role, new NpgsqlConnectionStringBuilder(connectionString).Username);
            Assert.Equal(system.Secret($"postgres-{resource}-password"), new NpgsqlConnectionStringBuilder(connectionString).Password);
            connections[resource] = connectionString;
        }
        async Task<string?> RunAsAsync(string resource, string sql)
        {
            await using var connection = new NpgsqlConnection(connections[resource]);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            try
            {
                await command.ExecuteNonQueryAsync();
                return null;
            }
            catch (PostgresException ex)
            {
                return ex.SqlState;
            }
        }
        Assert.Null(await RunAsAsync("ingestion", "SELECT count(*) FROM access_tokens"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RunAsAsync("ingestion", "SELECT count(*) FROM stores"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RunAsAsync("ingestion", "UPDATE access_tokens SET revoked = false WHERE false"));
        Assert.Null(await RunAsAsync("admin", "UPDATE stores SET name = name WHERE false"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, await RunAsAsync("admin", "ALTER TABLE stores ADD COLUMN intruder int"));
        Assert.Null(await RunAsAsync("worker", "SELECT count(*) FROM events"));
        foreach (var role in new[] { "beacon_ingestion", "beacon_worker", "beacon_admin" })
        {
            Assert.False(await system.QueryAsync<bool>("SELECT rolsuper FROM pg_roles WHERE rolname = @role", ("role", role)), $"{role} is no superuser");
        }
    }

    /// <summary>
    /// Each service connects to Redis as its own ACL user (RedisUsers): the flow so far (start-up, both doors, a
    /// delivery, the admin API) was refused nothing, and the internet-facing ingestion can neither read the admin
    /// site's Data Protection key ring nor run CONFIG, FLUSHALL or ACL.
    /// </summary>
    private static async Task AssertEachServiceHasItsOwnRedisUserAsync(BeaconAppHost system)
    {
        var connections = new Dictionary<string, ConfigurationOptions>();
        foreach (var resource in new[] { "ingestion", "worker", "admin" })
        {
            var options = ConfigurationOptions.Parse(EnvironmentOf(system, resource)
                .Single(v => v.StartsWith("ConnectionStrings__redis=", StringComparison.Ordinal))["ConnectionStrings__redis=".Length..]);
            Assert.Equal($"beacon_{resource}", options.User);
            Assert.Equal(system.Secret($"redis-{resource}-password"), options.Password);
            Assert.NotEqual(system.Secret("redis-password"), options.Password);
            // Lets the client send FLUSHALL and CONFIG at all (the services' clients never send CONFIG), so that the
            // server is the one refusing them.
            options.AllowAdmin = true;
            options.CommandMap = CommandMap.Default;
            connections[resource] = options;
        }

        await using (var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{system.Ports.Redis},password={system.Secret("redis-password")}"))
        {
            var refusals = (RedisResult[])(await admin.GetDatabase().ExecuteAsync("ACL", "LOG"))!;
            Assert.True(refusals.Length == 0, "Redis refused the services: " +
                string.Join(" | ", refusals.Select(r => string.Join(" ", ((RedisResult[])r!).Select(f => f.ToString())))));
        }

        await using var ingestion = await ConnectionMultiplexer.ConnectAsync(connections["ingestion"]);
        var db = ingestion.GetDatabase();
        async Task AssertRefusedAsync(Func<Task> command)
        {
            var refused = await Assert.ThrowsAsync<RedisServerException>(command);
            Assert.StartsWith("NOPERM", refused.Message, StringComparison.Ordinal);
        }
        await AssertRefusedAsync(() => db.ListRangeAsync("beacon:admin:dataprotection"));
        await AssertRefusedAsync(() => db.KeyDeleteAsync("beacon:admin:dataprotection"));
        await AssertRefusedAsync(() => db.ExecuteAsync("FLUSHALL"));
        await AssertRefusedAsync(() => db.ExecuteAsync("CONFIG", "GET", "requirepass"));
        await AssertRefusedAsync(() => db.ExecuteAsync("ACL", "LIST"));
        await AssertRefusedAsync(() => db.ExecuteAsync("KEYS", "*"));
        await AssertRefusedAsync(() => db.StreamReadGroupAsync(QueueKeys.Stream(0), QueueKeys.ConsumerGroup, "intruder", StreamPosition.NewMessages));
        await using var worker = await ConnectionMultiplexer.ConnectAsync(connections["worker"]);
        await AssertRefusedAsync(() => worker.GetDatabase().ListRangeAsync("beacon:admin:dataprotection"));
        await using var adminSite = await ConnectionMultiplexer.ConnectAsync(connections["admin"]);
        await adminSite.GetDatabase().ListRangeAsync("beacon:admin:dataprotection");
    }

    /// <summary>The service's own process (DCP starts <c>dotnet run</c>, which starts the service).</summary>
    private static string[] EnvironmentOf(BeaconAppHost system, string resource)
    {
        var service = ProcessTree.Of(system.PidOf(resource))
            .Select(pid => (Pid: pid, Environment: File.ReadAllText($"/proc/{pid}/environ").Split('\0')))
            .Last();
        return service.Environment;
    }

    private async Task AssertASecondAppHostOnTheSameDataRefusesAsync()
    {
        // The AppHost's own build output (its copy beside the tests lacks its runtime configuration).
        var configuration = typeof(WholeSystemTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "BuildConfiguration").Value!;
        var dll = Path.Combine(RepositoryRoot(), "AppHost", "bin", configuration, "net10.0", "AppHost.dll");
        var info = new ProcessStartInfo("dotnet", [dll, "--AppHost:Headless", "true", "--AppHost:DataDirectory", _dataDirectory])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var second = Process.Start(info)!;
        var error = second.StandardError.ReadToEndAsync();
        var output = second.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await second.WaitForExitAsync(timeout.Token);
        Assert.True(second.ExitCode == 2, $"exit code {second.ExitCode}: {await error}{await output}");
        Assert.Contains("Another Beacon AppHost is already running", await error);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory.FullName, "Beacon.sln")))
        {
            directory = directory.Parent ?? throw new InvalidOperationException("Beacon.sln not found above the tests");
        }
        return directory.FullName;
    }

    private async Task<Guid> DevStoreIdAsync(int adminPort, string apiKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{adminPort}/api/admin/v1/stores");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var stores = await response.Content.ReadFromJsonAsync<JsonElement>();
        return stores.EnumerateArray().Single(s => s.GetProperty("name").GetString() == "Dev Store").GetProperty("id").GetGuid();
    }

    private async Task CreateWebhookPipelineAsync(int adminPort, string apiKey, Guid storeId, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{adminPort}/api/admin/v1/stores/{storeId}/pipelines")
        {
            Content = JsonContent.Create(new { name = "Receiver", kind = "webhook", url, eventTypes = Array.Empty<string>(), enabled = true }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static HttpRequestMessage BeaconRequest(int port, string token, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/beacon")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Storefront-Access-Token", token);
        return request;
    }

    private async Task<List<string>> SendBeaconAsync(int port, string token, int count)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.NewGuid().ToString()).ToList();
        var events = string.Join(",", ids.Select(id =>
            $$"""{"event_id":"{{id}}","event_type":"product_view","timestamp":"2025-01-15T14:30:00Z","session_id":"s1","product_id":7003338965178}"""));
        using var request = BeaconRequest(port, token, $$"""{"events":[{{events}}]}""");
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return ids;
    }

    private static async Task<List<string>> SendGrpcAsync(int port, string token, int count)
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var client = new EventIngest.EventIngestClient(channel);
        var events = Enumerable.Range(0, count).Select(_ => new Event
        {
            EventId = Guid.NewGuid().ToString(),
            EventType = "product_view",
            Timestamp = Timestamp.FromDateTime(DateTime.UtcNow),
            SessionId = "s1",
            ProductId = "7003338965178",
        }).ToList();
        var response = await client.SendAsync(new SendEventsRequest { Events = { events } },
            new Metadata { { "x-storefront-access-token", token } });
        Assert.Equal((uint)count, response.Accepted);
        return events.Select(e => e.EventId).ToList();
    }

    private static async Task AssertDeliveredAsync(BeaconAppHost system, WebhookReceiver receiver, List<string> ids)
    {
        await WaitUntilAsync(async () => await system.QueryAsync<long>(
            "SELECT count(*) FROM events WHERE event_id = ANY(@ids)", ("ids", ids.ToArray())) == ids.Count, "events table has every event");
        await WaitUntilAsync(() => ids.All(receiver.EventIds.ContainsKey), "webhook received every event");
    }

    private static async Task AssertNothingLeftAsync(IReadOnlyCollection<int> pids, IEnumerable<int> ports)
    {
        await WaitUntilAsync(() => !pids.Any(ProcessTree.IsAlive), "every process of the run has exited");
        foreach (var port in ports)
        {
            using var client = new System.Net.Sockets.TcpClient();
            await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => client.ConnectAsync("127.0.0.1", port));
        }
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
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
