using System.Security.Cryptography;

namespace Beacon.AppHost.Orchestration;

/// <summary>
/// The resource graph: postgres and redis → migrate (Admin.Web <c>migrate --seed-dev</c>, run to completion) →
/// ingestion, worker and admin, each waited for until <c>/health</c> answers. Stops in reverse order.
/// </summary>
internal sealed class BeaconApplication(AppHostOptions options) : IAsyncDisposable
{
    private const string DevOperatorEmail = "admin@beacon.local";

    private readonly List<ProjectResource> _projects = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private PostgresResource? _postgres;
    private RedisResource? _redis;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var postgresConnection = options.PostgresConnectionString;
        var redisConnection = options.RedisConnectionString;
        if (postgresConnection is null)
        {
            _postgres = new PostgresResource(options.DataDirectory, options.PostgresPort, "beacon");
        }
        if (redisConnection is null)
        {
            _redis = new RedisResource(options.DataDirectory, options.RedisPort, options.AppendFsync);
        }
        await Task.WhenAll(
            _postgres?.StartAsync(cancellationToken) ?? Task.CompletedTask,
            _redis?.StartAsync(cancellationToken) ?? Task.CompletedTask);
        postgresConnection ??= _postgres!.ConnectionString;
        redisConnection ??= _redis!.ConnectionString;

        var devToken = options.DevToken ?? ReadOrCreateSecret("dev-token", () => "bk_dev_" + RandomString(24));
        var operatorPassword = ReadOrCreateSecret("admin-password", () => "Dev-" + RandomString(16) + "-1a");

        // A gen0 budget of 64 MB per GC heap: the default (~20 MB here) made the GC fault fresh pages in and clear them
        // all the time under load; with it the service needs 10-20% less CPU per event (README, "Ingestion settings").
        // The runtime reads this setting from the environment only, not from runtimeconfig.json.
        var ingestion = new ProjectResource("ingestion", "Ingestion.Api",
            [new Endpoint("http", options.IngestionPort), new Endpoint("grpc", options.IngestionGrpcPort, "Http2")],
            options.ReplicasOf("ingestion"), new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x4000000" });
        var worker = new ProjectResource("worker", "Pipelines.Worker", [new Endpoint("http", options.WorkerPort)], options.ReplicasOf("worker"));
        var admin = new ProjectResource("admin", "Admin.Web", [new Endpoint("http", options.AdminPort)], options.ReplicasOf("admin"));

        var environment = new Dictionary<string, string?>
        {
            ["ConnectionStrings__beacondb"] = postgresConnection,
            ["ConnectionStrings__redis"] = redisConnection,
            ["ASPNETCORE_ENVIRONMENT"] = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Development",
            ["Beacon__DevToken"] = devToken,
            ["Admin__BootstrapEmail"] = Environment.GetEnvironmentVariable("Admin__BootstrapEmail") ?? DevOperatorEmail,
            ["Admin__BootstrapPassword"] = Environment.GetEnvironmentVariable("Admin__BootstrapPassword") ?? operatorPassword,
        };
        foreach (var project in new[] { ingestion, worker, admin })
        {
            foreach (var endpoint in project.Endpoints)
            {
                environment[$"services__{project.Name}__{endpoint.Name}__0"] = $"http://localhost:{endpoint.Port}";
            }
        }

        // Migrations and the dev seed run once, before any service, like aspire-shop's database manager.
        var migrate = new ProjectResource("migrate", "Admin.Web", [], 1);
        migrate.Start(options.RepositoryRoot, environment, ["migrate", "--seed-dev"]);
        var migration = migrate.Instances[0];
        await migration.Exited.WaitAsync(TimeSpan.FromMinutes(5), cancellationToken);
        if (migration.ExitCode != 0)
        {
            throw new InvalidOperationException($"migrate exited with code {migration.ExitCode}");
        }
        await migrate.StopAsync();

        foreach (var project in new[] { ingestion, worker, admin })
        {
            project.Start(options.RepositoryRoot, environment);
            _projects.Add(project);
        }
        await Task.WhenAll(_projects.Select(p => p.WaitHealthyAsync(_http, TimeSpan.FromSeconds(90), cancellationToken)));

        PrintReady(devToken, environment["Admin__BootstrapEmail"]!, environment["Admin__BootstrapPassword"]!);
    }

    public async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        var children = _projects.SelectMany(p => p.Instances).ToList();
        var exited = children.Select(async c =>
        {
            await c.Exited.WaitAsync(cancellationToken);
            ConsoleLog.Error($"{c.Name} exited with code {c.ExitCode}; the other resources keep running (Ctrl+C stops everything)");
        });
        await Task.WhenAll(exited);
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }

    private void PrintReady(string devToken, string operatorEmail, string operatorPassword)
    {
        ConsoleLog.Info("Beacon is up.");
        ConsoleLog.Info($"  ingestion  http://localhost:{options.IngestionPort}  (gRPC h2c: localhost:{options.IngestionGrpcPort})");
        ConsoleLog.Info($"  admin      http://localhost:{options.AdminPort}  (sign in as {operatorEmail} / {operatorPassword})");
        ConsoleLog.Info($"  worker     http://localhost:{options.WorkerPort}/health");
        ConsoleLog.Info("Send an event:");
        ConsoleLog.Info($"  curl -i -X POST http://localhost:{options.IngestionPort}/beacon -H 'X-Storefront-Access-Token: {devToken}' " +
                        "-H 'Content-Type: application/json' -d '{\"events\":[{\"event_type\":\"product_view\",\"timestamp\":\"" +
                        DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ") + "\",\"session_id\":\"s1\",\"product_id\":7003338965178}]}'");
        ConsoleLog.Info("Press Ctrl+C to stop everything.");
    }

    private string ReadOrCreateSecret(string fileName, Func<string> create)
    {
        var path = Path.Combine(options.DataDirectory, fileName);
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }
        var value = create();
        File.WriteAllText(path, value);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return value;
    }

    private static string RandomString(int length) =>
        RandomNumberGenerator.GetString("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", length);

    public async ValueTask DisposeAsync()
    {
        // Services first (they drain), then the stores they write to.
        await Task.WhenAll(_projects.Select(p => p.StopAsync()));
        _projects.Clear();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
            _redis = null;
        }
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
            _postgres = null;
        }
        _http.Dispose();
    }
}
