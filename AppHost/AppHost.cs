using Beacon.AppHost;
using Beacon.AppHost.Resources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

var settings = AppHostSettings.From(new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build());
Directory.CreateDirectory(settings.DataDirectory);
var instanceLock = InstanceLock.TryAcquire(settings.DataDirectory);
if (instanceLock is null)
{
    Console.Error.WriteLine($"Another Beacon AppHost is already running with its data in {settings.DataDirectory}. " +
                            "Stop it first (Ctrl+C in its terminal), or give this one its own --AppHost:DataDirectory and ports.");
    return 2;
}
LocalDashboard.ApplyDefaults();

var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
{
    Args = args,
    DisableDashboard = settings.Headless,
    AllowUnsecuredTransport = true,
    // Without a dashboard, the services' logs go to the AppHost's console (and to a test's logger).
    EnableResourceLogging = settings.Headless,
});
var secrets = new LocalSecrets(settings.DataDirectory);
builder.Services.AddSingleton(instanceLock);
builder.Services.AddSingleton(settings);
builder.Services.AddHostedService<OrderedShutdown>();

var db = builder.Configuration.GetConnectionString("beacondb") is { Length: > 0 }
    ? builder.AddConnectionString("beacondb")
    : builder.AddLocalPostgres("beacondb", settings.DataDirectory, settings.PostgresPort,
        builder.AddParameter("postgres-password", secrets.Get("postgres-password", builder.Configuration["Beacon:PostgresPassword"], () => LocalSecrets.Random(32)), secret: true),
        database: "beacon");
var redisPassword = builder.AddParameter("redis-password",
    secrets.Get("redis-password", builder.Configuration["Beacon:RedisPassword"], () => LocalSecrets.Random(32)), secret: true);
var redisUsers = new RedisUsers(builder, secrets);
IResourceBuilder<IResourceWithConnectionString> redis = builder.Configuration.GetConnectionString("redis") is { Length: > 0 }
    ? builder.AddConnectionString("redis")
    : settings.RedisClusterMasters > 0
        ? builder.AddLocalRedisCluster("redis", settings.DataDirectory, settings.RedisPort, redisPassword, redisUsers, settings.AppendFsync, settings.RedisClusterMasters)
        : builder.AddLocalRedis("redis", settings.DataDirectory, settings.RedisPort, redisPassword, redisUsers, settings.AppendFsync);
// A local cluster's queue is split in as many partitions as it has masters, unless configured (Queue__Partitions).
var queuePartitions = settings.RedisClusterMasters > 0 && builder.Configuration["Queue:Partitions"] is null ? settings.RedisClusterMasters : (int?)null;

var databaseRoles = new DatabaseRoles(builder, db, secrets);

var credentials = new ReadyBanner.Credentials(
    secrets.Get("dev-token", builder.Configuration["Beacon:DevToken"], () => "bk_dev_" + LocalSecrets.Random(24)),
    builder.Configuration["Admin:BootstrapEmail"] ?? "admin@beacon.local",
    secrets.Get("admin-password", builder.Configuration["Admin:BootstrapPassword"], () => "Dev-" + LocalSecrets.Random(16) + "-1a"));
builder.Services.AddSingleton(credentials);
// Seals webhook secrets and the Data Protection key ring: given to the migrate step, the worker and Admin.Web only.
var masterKey = builder.AddParameter("master-key",
    secrets.Get("master-key", builder.Configuration["Beacon:MasterKey"], LocalSecrets.RandomKey), secret: true);
builder.Services.AddHostedService<ReadyBanner>();

// Migrations and the dev seed run once, to completion, before any service starts (aspire-shop's database manager).
var migrate = builder.AddService<Projects.Admin_Web>("migrate")
    .WithArgs("migrate", "--seed-dev")
    .WithServiceDefaults(settings, builder.Configuration)
    .WithConfigurationSections(builder.Configuration, "Admin", "Queue")
    .WithEnvironment("Beacon__DevToken", credentials.DevToken)
    .WithEnvironment("Beacon__MasterKey", masterKey)
    .WithDatabaseCreatingRoles(databaseRoles, "Ingestion", "Worker", "Admin")
    .WithQueue(redis, redisUsers, "Admin", queuePartitions);

var ingestion = builder.AddService<Projects.Ingestion_Api>("ingestion")
    .WithKestrelEndpoint("http", settings.IngestionPort, "Http1", settings.ReplicasOf("ingestion"))
    .WithKestrelEndpoint("grpc", settings.IngestionGrpcPort, "Http2", settings.ReplicasOf("ingestion"))
    .WithReplicas(settings.ReplicasOf("ingestion"))
    .WithServiceDefaults(settings, builder.Configuration)
    .WithConfigurationSections(builder.Configuration, "Ingestion", "Queue", "Logging")
    // A 64 MB gen0 budget per GC heap cuts ingestion's CPU per event by 10-20% (README, "Ingestion settings");
    // the runtime reads it from the environment only.
    .WithEnvironment("DOTNET_GCgen0size", builder.Configuration["DOTNET_GCgen0size"] ?? "0x4000000")
    .WithHttpHealthCheck("/health", endpointName: "http")
    .WithDatabaseAs(databaseRoles, "Ingestion")
    .WithQueue(redis, redisUsers, "Ingestion", queuePartitions)
    .WaitForCompletion(migrate);

builder.AddService<Projects.Pipelines_Worker>("worker")
    .WithKestrelEndpoint("http", settings.WorkerPort, "Http1", settings.ReplicasOf("worker"))
    .WithReplicas(settings.ReplicasOf("worker"))
    .WithServiceDefaults(settings, builder.Configuration)
    .WithConfigurationSections(builder.Configuration, "Worker", "Delivery", "Queue", "Logging")
    .WithEnvironment("Beacon__MasterKey", masterKey)
    .WithHttpHealthCheck("/health", endpointName: "http")
    .WithDatabaseAs(databaseRoles, "Worker")
    .WithQueue(redis, redisUsers, "Worker", queuePartitions)
    .WaitForCompletion(migrate);

builder.AddService<Projects.Admin_Web>("admin")
    .WithKestrelEndpoint("http", settings.AdminPort, "Http1", settings.ReplicasOf("admin"))
    .WithReplicas(settings.ReplicasOf("admin"))
    .WithServiceDefaults(settings, builder.Configuration)
    .WithConfigurationSections(builder.Configuration, "Admin", "Delivery", "Queue", "Logging")
    // A local run serves the admin site on http://localhost; behind a real deployment it is HTTPS-only.
    .WithEnvironment("Admin__AllowHttp", builder.Configuration["Admin:AllowHttp"] ?? "true")
    .WithEnvironment("Admin__BootstrapEmail", credentials.OperatorEmail)
    .WithEnvironment("Admin__BootstrapPassword", credentials.OperatorPassword)
    .WithEnvironment("Beacon__MasterKey", masterKey)
    .WithHttpHealthCheck("/health", endpointName: "http")
    .WithDatabaseAs(databaseRoles, "Admin")
    .WithQueue(redis, redisUsers, "Admin", queuePartitions)
    .WithReference(ingestion.GetEndpoint("http"))
    .WaitForCompletion(migrate);

builder.Build().Run();
return 0;
