using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.TestHost;
using StackExchange.Redis;

// Load test of POST /beacon against a Release build, real Redis (AOF, appendfsync everysec) and Postgres,
// compared with a bare Kestrel endpoint that only reads the body. Prints a Markdown table for docs/benchmarks.md.
// Usage: dotnet run -c Release --project tests/Load/LoadRunner -- <Ingestion.Api.dll> <BareKestrel.dll> [seconds] [connections]
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: LoadRunner <Ingestion.Api.dll> <BareKestrel.dll> [seconds=10] [connections=64]");
    return 2;
}
var ingestionDll = Path.GetFullPath(args[0]);
var bareDll = Path.GetFullPath(args[1]);
var seconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
var connections = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;
var script = Path.Combine(AppContext.BaseDirectory, "post-batch.lua");
string? uaShape = null;

await using var postgres = await PostgresServer.StartAsync();
await using var redisServer = await RedisServer.StartAsync(appendOnly: true);
var backends = new Backends { Postgres = postgres, Redis = redisServer };
await using (var db = backends.CreateDbContext())
{
    await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
}
// One address sends everything: limits of its own lift the storefront defaults; the limiter still runs per request.
var store = await backends.CreateStoreAsync(name: "load", rateLimitPerMinute: int.MaxValue, rateLimitPerIpPerMinute: int.MaxValue);
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);

var redisPid = int.Parse(((string)(await redis.GetServers()[0].ExecuteAsync("INFO", "server"))!)
    .Split('\n').First(l => l.StartsWith("process_id:", StringComparison.Ordinal))[11..].Trim(), CultureInfo.InvariantCulture);
const double TicksPerSecond = 100; // USER_HZ of /proc/<pid>/stat

var ingestionPort = FreePort.Next();
var barePort = FreePort.Next();
using var ingestion = Start(ingestionDll, [], new()
{
    ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{ingestionPort}",
    ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{FreePort.Next()}",
    ["ConnectionStrings__beacondb"] = postgres.ConnectionString(),
    ["ConnectionStrings__redis"] = redisServer.ConnectionString,
    ["Logging__LogLevel__Default"] = "Warning",
    ["ASPNETCORE_ENVIRONMENT"] = "Production",
});
using var bare = Start(bareDll, ["--urls", $"http://127.0.0.1:{barePort}"], new() { ["ASPNETCORE_ENVIRONMENT"] = "Production" });
try
{
    await WaitUntilUpAsync($"http://127.0.0.1:{ingestionPort}/alive");
    await WaitUntilUpAsync($"http://127.0.0.1:{barePort}/bare", post: true);

    var rows = new List<string>();
    var requestsPerSecond = new Dictionary<string, double>();
    foreach (var (name, url, batch, shape) in new[]
             {
                 ("bare Kestrel (read body, 204)", $"http://127.0.0.1:{barePort}/bare", 1, (string?)null),
                 ("POST /beacon, 1 event", $"http://127.0.0.1:{ingestionPort}/beacon", 1, null),
                 ("POST /beacon, 100 events", $"http://127.0.0.1:{ingestionPort}/beacon", 100, null),
                 ("POST /beacon, 1 event, unique 1 KB UA of issue 13", $"http://127.0.0.1:{ingestionPort}/beacon", 1, "issue"),
                 ("POST /beacon, 1 event, unique '; ' x 230 UA", $"http://127.0.0.1:{ingestionPort}/beacon", 1, "semis"),
                 ("POST /beacon, 1 event, unique spaces + Spider UA", $"http://127.0.0.1:{ingestionPort}/beacon", 1, "spider"),
                 ("POST /beacon, 1 event, unique 'bot ' x 100 UA", $"http://127.0.0.1:{ingestionPort}/beacon", 1, "bot"),
             })
    {
        // LOAD_RUNS=bare,1,100,ua-issue,ua-semis,ua-spider,ua-bot picks runs (default: bare,1,100).
        var only = Environment.GetEnvironmentVariable("LOAD_RUNS")?.Split(',') ?? ["bare", "1", "100"];
        var key = shape is not null ? "ua-" + shape : url.EndsWith("/bare", StringComparison.Ordinal) ? "bare" : batch.ToString(CultureInfo.InvariantCulture);
        if (!only.Contains(key))
        {
            continue;
        }
        uaShape = shape;
        await redis.GetDatabase().KeyDeleteAsync(QueueKeys.Stream(0));
        await RunWrkAsync(url, batch, int.Parse(Environment.GetEnvironmentVariable("LOAD_WARMUP") ?? "8", CultureInfo.InvariantCulture), connections); // warm-up: tiered JIT, pools, token cache
        await redis.GetDatabase().KeyDeleteAsync(QueueKeys.Stream(0));
        var isBare = url.EndsWith("/bare", StringComparison.Ordinal);
        var serverPid = isBare ? bare.Id : ingestion.Id;
        var (serverBefore, redisBefore) = (CpuTicks(serverPid), CpuTicks(redisPid));
        var cpuBefore = serverBefore + (isBare ? 0 : redisBefore);
        // LOAD_PERF=<file>: also record a CPU profile of the server during the measured run (perf must be installed).
        var perfFile = Environment.GetEnvironmentVariable("LOAD_PERF");
        using var perf = perfFile is null ? null : Process.Start("perf",
            ["record", "-F", "999", "-g", "-p", serverPid.ToString(CultureInfo.InvariantCulture), "-o", $"{perfFile}.{batch}{(isBare ? "bare" : "")}", "--", "sleep", (seconds - 1).ToString(CultureInfo.InvariantCulture)]);
        var result = await RunWrkAsync(url, batch, seconds, connections);
        perf?.WaitForExit();
        var (serverAfter, redisAfter) = (CpuTicks(serverPid), CpuTicks(redisPid));
        var cpuAfter = serverAfter + (isBare ? 0 : redisAfter);
        Console.Error.WriteLine($"{name}: server {(serverAfter - serverBefore) * 1e6 / TicksPerSecond / Math.Max(1, result.Requests):N1} µs/request, " +
                                $"redis {(redisAfter - redisBefore) * 1e6 / TicksPerSecond / Math.Max(1, result.Requests):N1} µs/request");
        // CPU per request of the server (plus Redis for ingestion) is steadier than requests/s on a shared machine.
        var cpuMicros = (cpuAfter - cpuBefore) * 1_000_000.0 / TicksPerSecond / Math.Max(1, result.Requests);
        var entries = await redis.GetDatabase().StreamLengthAsync(QueueKeys.Stream(0));
        var eventsPerSecond = isBare ? "-" : (result.Successful * batch / result.Seconds).ToString("N0", CultureInfo.InvariantCulture);
        rows.Add($"| {name} | {result.RequestsPerSecond.ToString("N0", CultureInfo.InvariantCulture)} | {eventsPerSecond} | " +
                 $"{result.P50} | {result.P99} | {cpuMicros:N0} | {result.Errors} | {(isBare ? "-" : entries.ToString(CultureInfo.InvariantCulture))} |");
        Console.Error.WriteLine(result.Raw);
        requestsPerSecond[key] = result.RequestsPerSecond;
    }

    Console.WriteLine($"wrk -t2 -c{connections} -d{seconds}s --latency, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    Console.WriteLine();
    Console.WriteLine("| run | requests/s | accepted events/s | p50 | p99 | server CPU µs/request | non-2xx | stream entries |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
    rows.ForEach(Console.WriteLine);
    if (requestsPerSecond.TryGetValue("1", out var normal))
    {
        Console.WriteLine();
        foreach (var (key, crafted) in requestsPerSecond.Where(r => r.Key.StartsWith("ua-", StringComparison.Ordinal)))
        {
            // Issue 13's target: unique crafted User-Agents at >= 0.5x the requests/s of a normal (cached) one.
            Console.WriteLine($"{key}: {crafted / normal:F2}x the requests/s of 1 event with a normal User-Agent");
        }
    }
    return 0;
}
finally
{
    Stop(ingestion);
    Stop(bare);
}

Process Start(string dll, string[] arguments, Dictionary<string, string> environment)
{
    var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
    info.ArgumentList.Add(dll);
    foreach (var argument in arguments)
    {
        info.ArgumentList.Add(argument);
    }
    foreach (var (key, value) in environment)
    {
        info.Environment[key] = value;
    }
    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[{Path.GetFileNameWithoutExtension(dll)}] {e.Data}"); };
    process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[{Path.GetFileNameWithoutExtension(dll)}] {e.Data}"); };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    ProcessReaper.Track(process.Id);
    return process;
}

void Stop(Process process)
{
    if (!process.HasExited)
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }
    ProcessReaper.Untrack(process.Id);
}

// utime + stime of a process, in clock ticks.
static long CpuTicks(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
}

static async Task WaitUntilUpAsync(string url, bool post = false)
{
    using var http = new HttpClient();
    var deadline = DateTime.UtcNow.AddSeconds(60);
    while (true)
    {
        try
        {
            var response = post ? await http.PostAsync(url, new StringContent("{}")) : await http.GetAsync(url);
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException) when (DateTime.UtcNow < deadline)
        {
        }
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException($"{url} did not come up");
        }
        await Task.Delay(200);
    }
}

async Task<WrkResult> RunWrkAsync(string url, int batch, int duration, int connectionCount)
{
    var info = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in new[] { "-t2", $"-c{connectionCount}", $"-d{duration}s", "--latency", "-s", script, url })
    {
        info.ArgumentList.Add(argument);
    }
    info.Environment["BATCH"] = batch.ToString(CultureInfo.InvariantCulture);
    info.Environment["TOKEN"] = store.Token;
    if (uaShape is not null)
    {
        info.Environment["UA_SHAPE"] = uaShape;
    }
    using var wrk = Process.Start(info)!;
    var output = await wrk.StandardOutput.ReadToEndAsync();
    await wrk.WaitForExitAsync();
    return WrkResult.Parse(output);
}

internal sealed record WrkResult(double RequestsPerSecond, long Requests, double Seconds, long Errors, string P50, string P99, string Raw)
{
    public long Successful => Requests - Errors;

    public static WrkResult Parse(string output)
    {
        string Find(string pattern) => Regex.Match(output, pattern, RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : "";
        var requests = Regex.Match(output, @"(\d+) requests in ([\d.]+)(ms|s|m)");
        var secondsValue = double.Parse(requests.Groups[2].Value, CultureInfo.InvariantCulture);
        secondsValue = requests.Groups[3].Value switch { "ms" => secondsValue / 1000, "m" => secondsValue * 60, _ => secondsValue };
        var errors = Find(@"Non-2xx or 3xx responses: (\d+)");
        var socketErrors = Regex.Match(output, @"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)");
        var socket = socketErrors.Success ? socketErrors.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture)) : 0;
        return new WrkResult(
            double.Parse(Find(@"Requests/sec:\s+([\d.]+)"), CultureInfo.InvariantCulture),
            long.Parse(requests.Groups[1].Value, CultureInfo.InvariantCulture),
            secondsValue,
            (errors.Length > 0 ? long.Parse(errors, CultureInfo.InvariantCulture) : 0) + socket,
            Find(@"^\s+50%\s+(\S+)"),
            Find(@"^\s+99%\s+(\S+)"),
            output);
    }
}
