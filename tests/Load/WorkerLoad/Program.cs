// Measures Pipelines.Worker: delivered events/s into a postgres pipeline and to a local webhook receiver from a
// pre-filled stream, and the worker's lag while events arrive at a steady rate. Starts its own Postgres and
// Redis (AOF on) and runs the worker as a separate process, like production. Results: docs/benchmarks.md.
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.Core.Security;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

var options = LoadOptions.Parse(args);
Console.WriteLine($"worker dll: {options.WorkerDll}");
await using var postgres = await PostgresServer.StartAsync();
await using var redisServer = await RedisServer.StartAsync(appendOnly: true);
var dataSource = new NpgsqlDataSourceBuilder(postgres.ConnectionString()).EnableDynamicJson().Build();
await using (var db = NewDb())
{
    await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
}
var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);
var stream = QueueKeys.Stream(0);
var receiver = await Receiver.StartAsync();
// The group exists before anything is queued, so lag counts every entry (as in production, where it was created long ago).
await redis.GetDatabase().StreamCreateConsumerGroupAsync(stream, QueueKeys.ConsumerGroup, "0", createStream: true);

var env = new Dictionary<string, string>
{
    ["ConnectionStrings__beacondb"] = postgres.ConnectionString(),
    ["ConnectionStrings__redis"] = redisServer.ConnectionString,
    ["Delivery__AllowPrivateDestinations"] = "true",
    ["Beacon__MasterKey"] = TestSecrets.MasterKeyBase64,
    ["Logging__LogLevel__Default"] = "Warning",
    ["DOTNET_ENVIRONMENT"] = "Production",
};
// --set Worker:PostgresBatchSize=20000 passes a setting to the worker.
foreach (var setting in args.Select((a, i) => (a, i)).Where(p => p.a == "--set").Select(p => args[p.i + 1]))
{
    var (key, value) = (setting[..setting.IndexOf('=')], setting[(setting.IndexOf('=') + 1)..]);
    env[key.Replace(":", "__")] = value;
}

// 1. Postgres pipeline, pre-filled stream.
var pgStore = await NewStoreAsync(PipelineKinds.Postgres, null);
await FillAsync(pgStore, options.PostgresEvents, options.EventsPerEntry);
var (pgSeconds, _) = await DrainWithWorkerAsync("postgres");
long rows;
await using (var count = dataSource.CreateCommand("SELECT count(*) FROM events"))
{
    rows = (long)(await count.ExecuteScalarAsync())!;
}
Report($"postgres pipeline: {options.PostgresEvents:N0} events in {pgSeconds:0.00} s = {options.PostgresEvents / pgSeconds:N0} events/s (rows in table: {rows:N0})");

// 2. Webhook pipeline, pre-filled stream, local receiver answering 200.
var hookStore = await NewStoreAsync(PipelineKinds.Webhook, receiver.Url);
await FillAsync(hookStore, options.WebhookEvents, options.EventsPerEntry);
var (hookSeconds, _) = await DrainWithWorkerAsync("webhook");
Report($"webhook pipeline: {options.WebhookEvents:N0} events in {hookSeconds:0.00} s = {options.WebhookEvents / hookSeconds:N0} events/s " +
       $"(receiver got {receiver.Events:N0} events in {receiver.Requests:N0} requests)");

// 3. Sustained load: a store with both kinds, events arriving at a fixed rate; sample the group's lag.
var bothStore = await NewStoreAsync(PipelineKinds.Postgres, null);
await AddPipelineAsync(bothStore, PipelineKinds.Webhook, receiver.Url);
var worker = await WorkerProcess.StartAsync(options.WorkerDll, env);
try
{
    var lagSamples = new List<long>();
    using var sampling = new CancellationTokenSource();
    var sampler = Task.Run(async () =>
    {
        while (!sampling.IsCancellationRequested)
        {
            lagSamples.Add(await LagAsync());
            await Task.Delay(1000);
        }
    });
    var produced = await ProduceAtRateAsync(bothStore, options.Rate, options.Seconds, options.SustainedEventsPerEntry);
    var drainWatch = Stopwatch.StartNew();
    while (await LagAsync() > 0)
    {
        await Task.Delay(50);
    }
    await sampling.CancelAsync();
    await sampler;
    Report($"sustained: {produced:N0} events at {options.Rate:N0} events/s for {options.Seconds} s in entries of {options.SustainedEventsPerEntry}, " +
           $"to a postgres and a webhook pipeline: lag (entries not yet acked) max {lagSamples.Max():N0}, " +
           $"mean {lagSamples.Average():N0}, p50 {Percentile(lagSamples, 0.5):N0}; drained {drainWatch.Elapsed.TotalSeconds:0.00} s after the producer stopped");
}
finally
{
    await worker.StopAsync();
}
// 4. End to end: POST /beacon (Ingestion.Api as its own process) → stream → worker → postgres + webhook.
if (options.BeaconSeconds > 0)
{
    await EndToEndAsync();
}
await receiver.DisposeAsync();
return;

async Task EndToEndAsync()
{
    var storeId = await NewStoreAsync(PipelineKinds.Postgres, null);
    await AddPipelineAsync(storeId, PipelineKinds.Webhook, receiver.Url);
    var token = TokenHasher.NewToken("bk_load_");
    await using (var db = NewDb())
    {
        db.AccessTokens.Add(new AccessToken
        {
            StoreId = storeId, Name = "load", TokenHash = TokenHasher.Hash(token), DisplayPrefix = TokenHasher.DisplayPrefix(token),
            RateLimitPerMinute = int.MaxValue, RateLimitPerIpPerMinute = int.MaxValue,
        });
        await db.SaveChangesAsync();
    }
    var ingestionPort = FreePort.Next();
    var ingestionEnv = new Dictionary<string, string>(env)
    {
        ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{ingestionPort}",
        ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{FreePort.Next()}",
    };
    var ingestion = await WorkerProcess.StartAsync(options.IngestionDll, ingestionEnv, ingestionPort);
    var worker = await WorkerProcess.StartAsync(options.WorkerDll, env);
    var webhookBefore = receiver.Events;
    long rowsBefore;
    await using (var count = dataSource.CreateCommand("SELECT count(*) FROM events"))
    {
        rowsBefore = (long)(await count.ExecuteScalarAsync())!;
    }
    try
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 });
        var url = $"http://127.0.0.1:{ingestionPort}/beacon";
        var watch = Stopwatch.StartNew();
        long accepted = 0, failed = 0;
        var rate = options.BeaconRate;
        const int perRequest = 100;
        var requests = rate * options.BeaconSeconds / perRequest;
        var lagSamples = new List<long>();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                lagSamples.Add(await LagAsync());
                await Task.Delay(1000);
            }
        });
        await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            // Paced: request i leaves no earlier than its slot at the target rate.
            var wait = TimeSpan.FromSeconds((double)i * perRequest / rate) - watch.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(BeaconBody(perRequest), System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("X-Storefront-Access-Token", token);
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.Created)
            {
                Interlocked.Add(ref accepted, perRequest);
            }
            else
            {
                Interlocked.Increment(ref failed);
            }
        });
        var sendSeconds = watch.Elapsed.TotalSeconds;
        long rows;
        while (true)
        {
            await using (var count = dataSource.CreateCommand("SELECT count(*) FROM events"))
            {
                rows = (long)(await count.ExecuteScalarAsync())! - rowsBefore;
            }
            if ((rows >= accepted && receiver.Events - webhookBefore >= accepted) || watch.Elapsed > TimeSpan.FromMinutes(5))
            {
                break;
            }
            await Task.Delay(100);
        }
        var totalSeconds = watch.Elapsed.TotalSeconds;
        await sampling.CancelAsync();
        await sampler;
        Report($"end to end: {accepted:N0} events accepted by POST /beacon (batches of {perRequest}, {failed} requests not 201) " +
               $"in {sendSeconds:0.00} s = {accepted / sendSeconds:N0} events/s offered; {rows:N0} rows in events and " +
               $"{receiver.Events - webhookBefore:N0} events at the webhook after {totalSeconds:0.00} s = {accepted / totalSeconds:N0} " +
               $"events/s delivered to each pipeline; worker lag max {lagSamples.DefaultIfEmpty().Max():N0} entries");
    }
    finally
    {
        await worker.StopAsync();
        await ingestion.StopAsync();
    }
}

static string BeaconBody(int events)
{
    var now = DateTimeOffset.UtcNow.ToString("O");
    var items = Enumerable.Range(0, events).Select(i =>
        "{\"event_type\":\"product_view\",\"timestamp\":\"" + now + "\",\"session_id\":\"load-" + (i % 50) +
        "\",\"device_id\":\"dev-1\",\"product_id\":" + (7000000 + i) + "}");
    return "{\"events\":[" + string.Join(",", items) + "]}";
}

BeaconDbContext NewDb() => new(new DbContextOptionsBuilder<BeaconDbContext>()
    .UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
    .UseSnakeCaseNamingConvention().Options);

async Task<Guid> NewStoreAsync(string kind, string? url)
{
    await using var db = NewDb();
    var store = new Store { Name = "load " + kind };
    db.Stores.Add(store);
    await db.SaveChangesAsync();
    await AddPipelineAsync(store.Id, kind, url);
    return store.Id;
}

async Task AddPipelineAsync(Guid storeId, string kind, string? url)
{
    await using var db = NewDb();
    db.Pipelines.Add(new Pipeline { StoreId = storeId, Name = kind, Kind = kind, Url = url, Secret = TestSecrets.Protector.Seal(WebhookSecret.New()) });
    await db.SaveChangesAsync();
}

EnrichedEvent NewEvent(Guid storeId, DateTimeOffset now) => new()
{
    Event = new Event
    {
        EventId = Guid.CreateVersion7().ToString(),
        EventType = "product_view",
        Timestamp = Timestamp.FromDateTimeOffset(now),
        SessionId = "sess-" + Random.Shared.Next(1000),
        DeviceId = "dev-1",
        ProductId = Random.Shared.Next(1_000_000).ToString(),
        ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/products/x") } },
        ShoppingChannel = "web",
    },
    StoreId = storeId.ToString(),
    Source = "beacon",
    ReceivedAt = Timestamp.FromDateTimeOffset(now),
    GeoCountry = "US",
    GeoCity = "austin",
    DeviceType = "mobile",
    Browser = "Safari",
    Os = "iOS",
};

NameValueEntry[] Entry(Guid storeId, int events)
{
    var now = DateTimeOffset.UtcNow;
    return QueueEntries.Fields([.. Enumerable.Range(0, events).Select(_ => NewEvent(storeId, now))]);
}

async Task FillAsync(Guid storeId, int events, int perEntry)
{
    var db = redis.GetDatabase();
    var pending = new List<Task>();
    for (var sent = 0; sent < events; sent += perEntry)
    {
        pending.Add(db.StreamAddAsync(stream, Entry(storeId, Math.Min(perEntry, events - sent))));
        if (pending.Count >= 200)
        {
            await Task.WhenAll(pending);
            pending.Clear();
        }
    }
    await Task.WhenAll(pending);
    Console.WriteLine($"queued {events:N0} events for store {storeId}");
}

async Task<int> ProduceAtRateAsync(Guid storeId, int rate, int seconds, int perEntry)
{
    var db = redis.GetDatabase();
    var watch = Stopwatch.StartNew();
    var produced = 0;
    var total = rate * seconds;
    var pending = new List<Task>();
    while (produced < total)
    {
        var due = (int)(watch.Elapsed.TotalSeconds * rate);
        while (produced < Math.Min(due, total))
        {
            pending.Add(db.StreamAddAsync(stream, Entry(storeId, perEntry)));
            produced += perEntry;
        }
        await Task.WhenAll(pending);
        pending.Clear();
        await Task.Delay(5);
    }
    return produced;
}

async Task<long> LagAsync()
{
    var group = (await redis.GetDatabase().StreamGroupInfoAsync(stream)).FirstOrDefault(g => g.Name == QueueKeys.ConsumerGroup);
    return group.Name is null ? long.MaxValue : (group.Lag ?? 0) + group.PendingMessageCount;
}

async Task<(double Seconds, long Lag)> DrainWithWorkerAsync(string what)
{
    // Timed from the first acked entry to the last, so process start-up is not counted as delivery time.
    var initial = await LagAsync();
    var worker = await WorkerProcess.StartAsync(options.WorkerDll, env);
    try
    {
        while (await LagAsync() >= initial)
        {
            await Task.Delay(5);
        }
        var watch = Stopwatch.StartNew();
        while (await LagAsync() > 0)
        {
            await Task.Delay(20);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        Console.WriteLine($"{what}: drained {initial:N0} entries in {seconds:0.00} s");
        return (seconds, 0);
    }
    finally
    {
        await worker.StopAsync();
    }
}

static double Percentile(List<long> values, double p)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

static void Report(string line) => Console.WriteLine("RESULT " + line);

internal sealed record LoadOptions(
    string WorkerDll, string IngestionDll, int PostgresEvents, int WebhookEvents, int EventsPerEntry, int Rate, int Seconds,
    int SustainedEventsPerEntry, int BeaconRate, int BeaconSeconds)
{
    public static LoadOptions Parse(string[] args)
    {
        string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Beacon.sln")))
        {
            root = root.Parent;
        }
        var dll = Arg("--worker-dll") ?? Path.Combine(root!.FullName, "Pipelines.Worker", "bin", "Release", "net10.0", "Pipelines.Worker.dll");
        var ingestion = Arg("--ingestion-dll") ?? Path.Combine(root!.FullName, "Ingestion.Api", "bin", "Release", "net10.0", "Ingestion.Api.dll");
        return new LoadOptions(dll, ingestion,
            int.Parse(Arg("--postgres-events") ?? "500000"),
            int.Parse(Arg("--webhook-events") ?? "100000"),
            int.Parse(Arg("--events-per-entry") ?? "100"),
            int.Parse(Arg("--rate") ?? "20000"),
            int.Parse(Arg("--seconds") ?? "30"),
            int.Parse(Arg("--sustained-events-per-entry") ?? "10"),
            int.Parse(Arg("--beacon-rate") ?? "20000"),
            int.Parse(Arg("--beacon-seconds") ?? "0"));
    }
}

/// <summary>A local webhook receiver that counts events and answers 200.</summary>
internal sealed class Receiver(WebApplication app, int port) : IAsyncDisposable
{
    private long _events;
    private long _requests;

    public string Url => $"http://127.0.0.1:{port}/hooks";
    public long Events => Interlocked.Read(ref _events);
    public long Requests => Interlocked.Read(ref _requests);

    public static async Task<Receiver> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var receiver = new Receiver(app, port);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var json = await JsonDocument.ParseAsync(context.Request.Body);
        Interlocked.Add(ref _events, json.RootElement.GetProperty("events").GetArrayLength());
        Interlocked.Increment(ref _requests);
        context.Response.StatusCode = 200;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

/// <summary>Pipelines.Worker (or Ingestion.Api) as its own process.</summary>
internal sealed class WorkerProcess(Process process)
{
    public static async Task<WorkerProcess> StartAsync(string dll, IReadOnlyDictionary<string, string> env, int? port = null)
    {
        port ??= FreePort.Next();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }
        info.Environment.TryAdd("Kestrel__Endpoints__http__Url", $"http://127.0.0.1:{port}");
        var process = Process.Start(info)!;
        ProcessReaper.Track(process.Id);
        using var http = new HttpClient();
        while (true)
        {
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/alive")).IsSuccessStatusCode)
                {
                    return new WorkerProcess(process);
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
    }

    public async Task StopAsync()
    {
        ProcessReaper.Signal(process.Id, ProcessReaper.SigTerm);
        await ProcessReaper.WaitForExitAsync(process.Id, TimeSpan.FromSeconds(30));
        ProcessReaper.Untrack(process.Id);
    }
}
