using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.GrpcClient;
using Beacon.TestHost;
using StackExchange.Redis;

// gRPC ingestion benchmark: a Release Ingestion.Api process against real Postgres and Redis (AOF, appendfsync
// everysec, as the AppHost runs it), driven by the load generator of tests/Load/GrpcClient, with POST /beacon
// (wrk, 100-event batches) in the same run for comparison. Prints a Markdown table for docs/benchmarks-grpc.md.
// Usage: dotnet run -c Release --project tests/Load/GrpcBench -- <Ingestion.Api.dll> [seconds=15] [streams=8] [window=8] [concurrency=64]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: GrpcBench <Ingestion.Api.dll> [seconds=15] [streams=8] [window=8] [concurrency=64]");
    return 2;
}
var ingestionDll = Path.GetFullPath(args[0]);
int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;
var seconds = Arg(1, 15);
var streams = Arg(2, 8);
var window = Arg(3, 8);
var concurrency = Arg(4, 64);
var duration = TimeSpan.FromSeconds(seconds);
// BENCH_WARMUP (seconds, default 5): on one pinned core the JIT's tiering needs longer before the code is optimized.
var warmUp = TimeSpan.FromSeconds(int.Parse(Environment.GetEnvironmentVariable("BENCH_WARMUP") ?? "5", CultureInfo.InvariantCulture));

await using var postgres = await PostgresServer.StartAsync();
await using var redisServer = await RedisServer.StartAsync(appendOnly: true);
var backends = new Backends { Postgres = postgres, Redis = redisServer };
await using (var db = backends.CreateDbContext())
{
    await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
}
// Each run gets a store of its own: with client ids, a store's dedup hash grows with every run, and a run that
// came later would pay for the ids of the runs before it.
var runs = 0;
Task<TestStore> NewStoreAsync() => backends.CreateStoreAsync(name: $"grpc-load-{++runs}");
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);

var jsonUrl = $"http://127.0.0.1:{FreePort.Next()}";
var grpcUrl = $"http://127.0.0.1:{FreePort.Next()}";
// BENCH_SERVICE_CPUS (e.g. "1") pins Ingestion.Api to those CPUs (taskset), to measure what the service does on its
// own cores; grpc-bench.sh then runs everything else (Redis, Postgres, load generators) on the other CPUs.
var serviceCpus = Environment.GetEnvironmentVariable("BENCH_SERVICE_CPUS");
var info = new ProcessStartInfo(serviceCpus is null ? "dotnet" : "taskset", serviceCpus is null ? [ingestionDll] : ["-c", serviceCpus, "dotnet", ingestionDll])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
    WorkingDirectory = Path.GetDirectoryName(ingestionDll)!,
    Environment =
    {
        ["Kestrel__Endpoints__http__Url"] = jsonUrl,
        ["Kestrel__Endpoints__grpc__Url"] = grpcUrl,
        ["ConnectionStrings__beacondb"] = postgres.ConnectionString(),
        ["ConnectionStrings__redis"] = redisServer.ConnectionString,
        ["Logging__LogLevel__Default"] = "Warning",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    },
};
using var server = Process.Start(info)!;
ProcessReaper.Track(server.Id);
server.OutputDataReceived += (_, _) => { };
server.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[ingestion] {e.Data}"); };
server.BeginOutputReadLine();
server.BeginErrorReadLine();
try
{
    using (var http = new HttpClient())
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await http.GetAsync($"{jsonUrl}/alive")).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            await Task.Delay(200);
        }
    }

    var rows = new List<string>();
    async Task RecordAsync(int round, string name, Func<Task<(double Events, double Calls, long Errors)>> run)
    {
        await redis.GetDatabase().KeyDeleteAsync(QueueKeys.Stream(0));
        server.Refresh();
        var serverCpu = server.TotalProcessorTime;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var redisCpu = await RedisCpuAsync(redis);
        var (events, calls, errors) = await run();
        redisCpu = await RedisCpuAsync(redis) - redisCpu;
        server.Refresh();
        serverCpu = server.TotalProcessorTime - serverCpu;
        clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpu;
        // What is really in the stream over the whole run (warm-up included), to put the CPU time in proportion.
        var stored = await CountQueuedEventsAsync(redis);
        // The machine is shared, so events/s depends on what else runs (see the load average); CPU time per event
        // of the server does much less, and is the fairer comparison of the doors.
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        var client = name.StartsWith("gRPC", StringComparison.Ordinal)
            ? (clientCpu.TotalMilliseconds * 1000 / Math.Max(1, stored)).ToString("0.00", CultureInfo.InvariantCulture)
            : "(wrk)";
        rows.Add(string.Create(CultureInfo.InvariantCulture,
            $"| {round} | {name} | {events:N0} | {calls:N0} | {errors} | {stored:N0} | {serverCpu.TotalMilliseconds * 1000 / Math.Max(1, stored):0.00} | {redisCpu.TotalMilliseconds * 1000 / Math.Max(1, stored):0.00} | {client} | {load} |"));
        Console.Error.WriteLine(rows[^1]);
    }

    // The three runs alternate, round after round, so that a change in the machine's load hits them alike.
    var only = Environment.GetEnvironmentVariable("BENCH_RUNS")?.Split(',') ?? ["json", "stream", "send"];
    // BENCH_EVENT_IDS=0: no client event ids (server UUIDv7s, no dedup), the setup of docs/benchmarks.md.
    var withIds = Environment.GetEnvironmentVariable("BENCH_EVENT_IDS") != "0";
    var rounds = int.Parse(Environment.GetEnvironmentVariable("BENCH_ROUNDS") ?? "3", CultureInfo.InvariantCulture);
    for (var round = 1; round <= rounds; round++)
    {
        if (only.Contains("json"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, "POST /beacon, 100 events (wrk -t2 -c64)", () => RunWrkAsync(jsonUrl, store.Token, seconds, withIds));
        }
        if (only.Contains("stream"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"gRPC Stream, 100 events/batch ({streams} streams x {window} in flight)", async () =>
            {
                var result = await LoadGenerator.StreamAsync(new Uri(grpcUrl), store.Token, 2, streams, window, 100, warmUp, duration, withIds);
                return (result.EventsPerSecond, result.CallsPerSecond, result.Errors);
            });
        }
        if (only.Contains("send"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"gRPC Send, 100 events/call ({concurrency} concurrent calls)", async () =>
            {
                var result = await LoadGenerator.SendAsync(new Uri(grpcUrl), store.Token, 2, concurrency, 100, warmUp, duration, withIds);
                return (result.EventsPerSecond, result.CallsPerSecond, result.Errors);
            });
        }
    }

    Console.WriteLine(withIds ? "Every event carries a unique client event_id (dedup checked and recorded in Redis)." : "No client event ids (server UUIDv7s, no dedup).");
    var cpus = serviceCpus is null
        ? $"{Environment.ProcessorCount} cores shared by everything"
        : $"Ingestion.Api pinned to CPU {serviceCpus}, Redis, Postgres and the load generators on {Environment.ProcessorCount} other";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{seconds} s measured after {warmUp.TotalSeconds:0} s warm-up, {cpus}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
    Console.WriteLine();
    Console.WriteLine("| round | run | accepted events/s | requests or acks/s | errors | events in the stream after the run | Ingestion.Api CPU ms / 1,000 events | Redis CPU ms / 1,000 events | load generator CPU ms / 1,000 events | load average |");
    Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    rows.ForEach(Console.WriteLine);
    return 0;
}
finally
{
    if (!server.HasExited)
    {
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
    }
    ProcessReaper.Untrack(server.Id);
}

static async Task<TimeSpan> RedisCpuAsync(IConnectionMultiplexer redis)
{
    var info = (await redis.GetServers()[0].InfoAsync("cpu")).SelectMany(group => group).ToDictionary(p => p.Key, p => p.Value);
    return TimeSpan.FromSeconds(double.Parse(info["used_cpu_user"], CultureInfo.InvariantCulture)
                                + double.Parse(info["used_cpu_sys"], CultureInfo.InvariantCulture));
}

static async Task<long> CountQueuedEventsAsync(IConnectionMultiplexer redis)
{
    var db = redis.GetDatabase();
    long events = 0;
    RedisValue after = "-";
    while (true)
    {
        var entries = await db.StreamRangeAsync(QueueKeys.Stream(0), after, "+", count: 5000);
        foreach (var entry in entries)
        {
            events += QueueEntries.Count(entry.Values);
        }
        if (entries.Length < 5000)
        {
            return events;
        }
        after = "(" + entries[^1].Id;
    }
}

static async Task<(double Events, double Calls, long Errors)> RunWrkAsync(string url, string token, int seconds, bool withIds)
{
    var script = Path.Combine(AppContext.BaseDirectory, "beacon-batch.lua");
    async Task<string> WrkAsync(int duration)
    {
        var info = new ProcessStartInfo("wrk", ["-t2", "-c64", $"-d{duration}s", "-s", script, url])
        {
            RedirectStandardOutput = true,
            Environment = { ["BATCH"] = "100", ["TOKEN"] = token, ["RUN"] = withIds ? Guid.NewGuid().ToString("N")[..12] : "" },
        };
        using var wrk = Process.Start(info)!;
        var output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        return output;
    }
    await WrkAsync(5); // warm-up: JIT, token cache, connection pools
    var output = await WrkAsync(seconds);
    Console.Error.WriteLine(output);
    var requests = double.Parse(Regex.Match(output, @"Requests/sec:\s+([\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
    var non2xx = Regex.Match(output, @"Non-2xx or 3xx responses:\s+(\d+)") is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    var total = long.Parse(Regex.Match(output, @"(\d+) requests in").Groups[1].Value, CultureInfo.InvariantCulture);
    // Only 201s carry stored events.
    return (requests * 100 * (total - non2xx) / Math.Max(1, total), requests, non2xx);
}
