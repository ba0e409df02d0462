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
// (wrk) in the same run, all with BENCH_BATCH (100) events per request for comparison. Prints a Markdown table (results kept in docs/benchmarks.md).
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
// BENCH_BATCH (default 100): events per request, batch or call, for every run alike.
var batchSize = int.Parse(Environment.GetEnvironmentVariable("BENCH_BATCH") ?? "100", CultureInfo.InvariantCulture);
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
// BENCH_TRIM=0 lets the stream grow for the whole run. By default it is trimmed while the load runs, as the worker
// keeps it in production: a stream of gigabytes that nobody consumes makes Redis rewrite its AOF over and over
// (forking and compressing the whole data set), which took a quarter of this machine's CPU from every door alike.
var trim = Environment.GetEnvironmentVariable("BENCH_TRIM") != "0";
// Every request comes from this one address: the storefront defaults (600 a minute per address) would refuse the run.
// Limits of its own lift them while every request still passes the rate limiter, as in production.
Task<TestStore> NewStoreAsync() => backends.CreateStoreAsync(name: $"grpc-load-{++runs}", rateLimitPerMinute: int.MaxValue, rateLimitPerIpPerMinute: int.MaxValue);
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
        // As the AppHost runs the service (AppHost/Orchestration/BeaconApplication.cs); BENCH_GEN0SIZE overrides it.
        ["DOTNET_GCgen0size"] = Environment.GetEnvironmentVariable("BENCH_GEN0SIZE") ?? "0x4000000",
    },
};
using var server = Process.Start(info)!;
ProcessReaper.Track(server.Id);
// The service logs at Warning: whatever it prints (a refused batch, a Redis timeout) explains an error count.
server.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[ingestion] {e.Data}"); };
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
    async Task RecordAsync(int round, string name, Func<Task<(double Events, double Calls, long Errors, long? Sent)>> run)
    {
        ExternalToolCpu.Reset();
        await redis.GetDatabase().KeyDeleteAsync(QueueKeys.Stream(0));
        server.Refresh();
        var serverCpu = server.TotalProcessorTime;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var machine = MachineCpu.Read();
        var redisCpu = await RedisCpuAsync(redis);
        using var trimming = new CancellationTokenSource();
        var trimmer = trim ? TrimWhileRunningAsync(redis, trimming.Token) : Task.CompletedTask;
        var (events, calls, errors, sent) = await run();
        await trimming.CancelAsync();
        await trimmer;
        redisCpu = await RedisCpuAsync(redis) - redisCpu;
        var (machineBusy, machineTotal) = MachineCpu.Read() - machine;
        server.Refresh();
        serverCpu = server.TotalProcessorTime - serverCpu;
        clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpu;
        // What is really in the stream over the whole run (warm-up included), to put the CPU time in proportion.
        var stored = await CountQueuedEventsAsync(redis);
        if (sent is { } expected)
        {
            // A tool that cannot read gRPC's status: every event sent and not in the stream is an error.
            errors = Math.Max(0, expected - stored);
        }
        // The machine is shared, so events/s depends on what else runs (see the load average); CPU time per event
        // of the server does much less, and is the fairer comparison of the doors.
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        // wrk and h2load are child processes: their CPU is what `times` reported for them, warm-up included, as is
        // the stored count; the .NET load generator runs in this process.
        var generatorCpu = ExternalToolCpu.Used ?? clientCpu;
        var client = (generatorCpu.TotalMilliseconds * 1000 / Math.Max(1, stored)).ToString("0.00", CultureInfo.InvariantCulture);
        rows.Add(string.Create(CultureInfo.InvariantCulture,
            $"| {round} | {name} | {events:N0} | {calls:N0} | {errors} | {stored:N0} | {serverCpu.TotalMilliseconds * 1000 / Math.Max(1, stored):0.00} | {redisCpu.TotalMilliseconds * 1000 / Math.Max(1, stored):0.00} | {client} | {machineBusy * 1e6 / Math.Max(1, stored):0.00} | {100 * machineBusy / Math.Max(1e-9, machineTotal):0} % | {load} |"));
        Console.Error.WriteLine(rows[^1]);
    }

    // The three runs alternate, round after round, so that a change in the machine's load hits them alike.
    // "h2load" drives the Stream door with nghttp2's h2load, a C load generator like wrk (no client ids only: its
    // bodies are fixed).
    var only = Environment.GetEnvironmentVariable("BENCH_RUNS")?.Split(',') ?? ["json", "stream", "send"];
    // BENCH_EVENT_IDS=0: no client event ids (server UUIDv7s, no dedup), the setup of docs/benchmarks.md.
    var withIds = Environment.GetEnvironmentVariable("BENCH_EVENT_IDS") != "0";
    var rounds = int.Parse(Environment.GetEnvironmentVariable("BENCH_ROUNDS") ?? "3", CultureInfo.InvariantCulture);
    for (var round = 1; round <= rounds; round++)
    {
        if (only.Contains("json"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"POST /beacon, {batchSize} events (wrk -t2 -c{concurrency})", () => RunWrkAsync(jsonUrl, store.Token, seconds, concurrency, batchSize, withIds));
        }
        if (only.Contains("stream"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"gRPC Stream, {batchSize} events/batch ({streams} streams x {window} in flight)", async () =>
            {
                var result = await LoadGenerator.StreamAsync(new Uri(grpcUrl), store.Token, 2, streams, window, batchSize, warmUp, duration, withIds);
                return (result.EventsPerSecond, result.CallsPerSecond, result.Errors, (long?)null);
            });
        }
        if (only.Contains("h2load") && !withIds)
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"gRPC Stream, {batchSize} events/batch (h2load -c2, {streams} streams x {window} batches)", () =>
                RunH2loadAsync(grpcUrl, store.Token, seconds, "Stream", streams, window, batchSize));
        }
        if (only.Contains("send"))
        {
            var store = await NewStoreAsync();
            await RecordAsync(round, $"gRPC Send, {batchSize} events/call ({concurrency} concurrent calls)", async () =>
            {
                var result = await LoadGenerator.SendAsync(new Uri(grpcUrl), store.Token, 2, concurrency, batchSize, warmUp, duration, withIds);
                return (result.EventsPerSecond, result.CallsPerSecond, result.Errors, (long?)null);
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
    Console.WriteLine(trim
        ? "The stream is trimmed while the load runs (XTRIM MAXLEN ~ 1000 entries every 100 ms), as a worker that keeps up would keep it."
        : "The stream is not trimmed (BENCH_TRIM=0): it grows for the whole run, and Redis rewrites an AOF of gigabytes.");
    Console.WriteLine("| round | run | accepted events/s | requests or acks/s | errors | events stored over the run | Ingestion.Api CPU µs / event | Redis CPU µs / event | load generator CPU µs / event | whole machine CPU µs / event | machine busy | load average |");
    Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
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

// Every event appended over the run: the entries still in the stream are read and counted; the entries trimmed
// away are counted from XINFO's entries-added, each holding as many events as every retained entry does (all
// batches of a run have the same size; a run whose retained entries differ is reported as an error).
static async Task<long> CountQueuedEventsAsync(IConnectionMultiplexer redis)
{
    var db = redis.GetDatabase();
    long events = 0;
    long entries = 0;
    var sizes = new HashSet<int>();
    RedisValue after = "-";
    while (true)
    {
        // An entry holds the batches of one group commit (up to ~1,000 events): pages of 200 stay well under the
        // Redis client's timeout on a busy machine.
        var batch = await db.StreamRangeAsync(QueueKeys.Stream(0), after, "+", count: 200);
        foreach (var entry in batch)
        {
            var count = QueueEntries.Count(entry.Values);
            sizes.Add(count);
            events += count;
            entries++;
        }
        if (batch.Length < 200)
        {
            break;
        }
        after = "(" + batch[^1].Id;
    }
    if (entries == 0)
    {
        return 0;
    }
    var info = (RedisResult[])(await db.ExecuteAsync("XINFO", "STREAM", QueueKeys.Stream(0)))!;
    long added = 0;
    for (var i = 0; i + 1 < info.Length; i += 2)
    {
        if ((string?)info[i] == "entries-added")
        {
            added = (long)info[i + 1];
        }
    }
    if (sizes.Count != 1 && added > entries)
    {
        throw new InvalidOperationException($"Entries of different sizes ({string.Join(", ", sizes)}): the trimmed ones cannot be counted; run with BENCH_TRIM=0.");
    }
    return events + (added - entries) * sizes.First();
}

// Trims the stream as a worker that keeps up would: what was appended more than ~1,000 entries (~100,000 events) ago is gone.
static async Task TrimWhileRunningAsync(IConnectionMultiplexer redis, CancellationToken cancellationToken)
{
    var db = redis.GetDatabase();
    while (!cancellationToken.IsCancellationRequested)
    {
        try
        {
            await Task.Delay(100, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        await db.StreamTrimAsync(QueueKeys.Stream(0), 1_000, useApproximateMaxLength: true);
    }
}

static async Task<(double Events, double Calls, long Errors, long? Sent)> RunWrkAsync(string url, string token, int seconds, int connections, int batchSize, bool withIds)
{
    var script = Path.Combine(AppContext.BaseDirectory, "beacon-batch.lua");
    async Task<string> WrkAsync(int duration)
    {
        var info = new ProcessStartInfo("bash", ExternalToolCpu.Wrap("wrk", "-t2", $"-c{connections}", $"-d{duration}s", "-s", script, url))
        {
            RedirectStandardOutput = true,
            Environment = { ["BATCH"] = batchSize.ToString(CultureInfo.InvariantCulture), ["TOKEN"] = token, ["RUN"] = withIds ? Guid.NewGuid().ToString("N")[..12] : "" },
        };
        using var wrk = Process.Start(info)!;
        var output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        return ExternalToolCpu.Take(output);
    }
    await WrkAsync(5); // warm-up: JIT, token cache, connection pools
    var output = await WrkAsync(seconds);
    Console.Error.WriteLine(output);
    var requests = double.Parse(Regex.Match(output, @"Requests/sec:\s+([\d.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
    var non2xx = Regex.Match(output, @"Non-2xx or 3xx responses:\s+(\d+)") is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    var total = long.Parse(Regex.Match(output, @"(\d+) requests in").Groups[1].Value, CultureInfo.InvariantCulture);
    // Only 201s carry stored events.
    return (requests * batchSize * (total - non2xx) / Math.Max(1, total), requests, non2xx, null);
}

// A Stream (or Send) call per h2load request: the body holds `batches` gRPC-framed EventBatch messages of
// `batchSize` events, sent at once, and the server answers with one ack per batch. h2load cannot see gRPC's status (it is in the
// trailers), so the events sent are checked against what reached the Redis stream.
static async Task<(double Events, double Calls, long Errors, long? Sent)> RunH2loadAsync(string url, string token, int seconds, string method, int streams, int batches, int batchSize)
{
    var factory = new RawBatchFactory(withEventIds: false);
    var body = new MemoryStream();
    for (var i = 1; i <= batches; i++)
    {
        var message = method == "Stream" ? factory.StreamBatch((ulong)i, batchSize) : factory.SendRequest(batchSize);
        body.WriteByte(0);
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, message.Length);
        body.Write(length);
        body.Write(message);
    }
    var bodyFile = Path.GetTempFileName();
    await File.WriteAllBytesAsync(bodyFile, body.ToArray());
    try
    {
        async Task<string> H2loadAsync(int duration)
        {
            var info = new ProcessStartInfo("bash", ExternalToolCpu.Wrap("h2load", "-c2", $"-m{Math.Max(1, streams / 2)}", $"-D{duration}",
                "-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", $"x-storefront-access-token: {token}",
                "-H", "user-agent: BeaconLoad/1.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", $"{url}/beacon.v1.EventIngest/{method}"))
            {
                RedirectStandardOutput = true,
            };
            using var h2load = Process.Start(info)!;
            var output = await h2load.StandardOutput.ReadToEndAsync();
            await h2load.WaitForExitAsync();
            return ExternalToolCpu.Take(output);
        }
        static long Succeeded(string output) => long.Parse(Regex.Match(output, @"(\d+) succeeded").Groups[1].Value, CultureInfo.InvariantCulture);
        var warmUp = Succeeded(await H2loadAsync(5));
        var output = await H2loadAsync(seconds);
        Console.Error.WriteLine(output);
        var requests = double.Parse(Regex.Match(output, @"finished in [\d.]+m?s, ([\d.]+) req/s").Groups[1].Value, CultureInfo.InvariantCulture);
        var failed = long.Parse(Regex.Match(output, @"(\d+) failed").Groups[1].Value, CultureInfo.InvariantCulture);
        return (requests * batches * batchSize, requests * batches, failed, (warmUp + Succeeded(output)) * batches * (long)batchSize);
    }
    finally
    {
        File.Delete(bodyFile);
    }
}

/// <summary>The CPU time of wrk or h2load, read from bash's <c>times</c> after the tool exits.</summary>
static class ExternalToolCpu
{
    public static TimeSpan? Used { get; private set; }

    public static void Reset() => Used = null;

    // `times` prints the shell's user and system time, then its children's; it must not run in a subshell.
    public static string[] Wrap(params string[] command) => ["-c", "\"$@\"; echo children-cpu; times", "_", .. command];

    public static string Take(string output)
    {
        var m = Regex.Match(output, @"children-cpu\n.*\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s");
        if (m.Success)
        {
            double S(int g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
            Used = (Used ?? TimeSpan.Zero) + TimeSpan.FromSeconds(S(1) * 60 + S(2) + S(3) * 60 + S(4));
        }
        return output;
    }
}

/// <summary>The whole machine's busy and total CPU time (all cores, seconds) from /proc/stat.</summary>
readonly record struct MachineCpu(double Busy, double Total)
{
    public static MachineCpu Read()
    {
        // cpu  user nice system idle iowait irq softirq steal ...  (in USER_HZ, 100 per second)
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Take(8).Select(f => double.Parse(f, CultureInfo.InvariantCulture) / 100).ToArray();
        // Busy: user, nice, system, irq, softirq (not idle, iowait, or steal, which another VM had).
        return new MachineCpu(fields[0] + fields[1] + fields[2] + fields[5] + fields[6], fields.Sum());
    }

    public static MachineCpu operator -(MachineCpu a, MachineCpu b) => new(a.Busy - b.Busy, a.Total - b.Total);
}
