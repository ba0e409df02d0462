using System.Diagnostics;
using System.Globalization;
using Beacon.Core.Data;
using Beacon.TestHost;

// The first request after ready (DESIGN §3 Readiness): starts a Release build of Ingestion.Api against real Postgres and
// Redis, polls /health every 20 ms and, the moment it says healthy, times (with curl) a first POST /beacon with a known
// token that the process has never seen, then a second one. Prints one Markdown row per start.
// Usage: dotnet run -c Release --project tests/Load/FirstRequest -- <Ingestion.Api.dll> [starts=5]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: FirstRequest <Ingestion.Api.dll> [starts=5]");
    return 2;
}
var dll = Path.GetFullPath(args[0]);
var starts = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;

await using var postgres = await PostgresServer.StartAsync();
await using var redisServer = await RedisServer.StartAsync(appendOnly: true);
var backends = new Backends { Postgres = postgres, Redis = redisServer };
await using (var db = backends.CreateDbContext())
{
    await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
}

Console.WriteLine($"{Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Path.GetFileName(Path.GetDirectoryName(dll))}");
Console.WriteLine();
Console.WriteLine("| start | process start to healthy | first /beacon | status | second /beacon |");
Console.WriteLine("|---:|---:|---:|---:|---:|");
for (var run = 1; run <= starts; run++)
{
    // A fresh store per start: its token is one the process has never looked up.
    var store = await backends.CreateStoreAsync(name: $"first-request-{run}");
    var port = FreePort.Next();
    var started = Stopwatch.StartNew();
    using var ingestion = Start(new()
    {
        ["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{port}",
        ["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{FreePort.Next()}",
        ["ConnectionStrings__beacondb"] = postgres.ConnectionString(),
        ["ConnectionStrings__redis"] = redisServer.ConnectionString,
        ["Logging__LogLevel__Default"] = "Warning",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
    });
    try
    {
        // A client of its own per start, so no connection of an earlier process is reused.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await WaitUntilHealthyAsync(http, ingestion);
        var healthy = started.Elapsed;
        var (first, status) = await PostAsync(http.BaseAddress!, store.Token);
        var (second, _) = await PostAsync(http.BaseAddress!, store.Token);
        Console.WriteLine($"| {run} | {healthy.TotalSeconds:N2} s | {first.TotalMilliseconds:N1} ms | {status} | {second.TotalMilliseconds:N1} ms |");
    }
    finally
    {
        Stop(ingestion);
    }
}
return 0;

// curl, a native client on a new connection, as a browser would be: nothing of the measurement is JIT-compiled.
static async Task<(TimeSpan Elapsed, int Status)> PostAsync(Uri baseAddress, string token)
{
    var body = $$"""{"events":[{"event_id":"{{Guid.NewGuid()}}","event_type":"product_view","timestamp":"2026-01-15T14:30:00Z","session_id":"s-1","product_id":"7003338965178"}]}""";
    var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true };
    foreach (var argument in new[]
             {
                 "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-H", "Content-Type: text/plain", "-H", $"X-Storefront-Access-Token: {token}",
                 "-A", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                 "--data-binary", body, new Uri(baseAddress, "/beacon").ToString(),
             })
    {
        info.ArgumentList.Add(argument);
    }
    using var curl = Process.Start(info)!;
    var output = (await curl.StandardOutput.ReadToEndAsync()).Split(' ');
    await curl.WaitForExitAsync();
    return (TimeSpan.FromSeconds(double.Parse(output[1], CultureInfo.InvariantCulture)), int.Parse(output[0], CultureInfo.InvariantCulture));
}

static async Task WaitUntilHealthyAsync(HttpClient http, Process ingestion)
{
    var deadline = DateTime.UtcNow.AddSeconds(90);
    while (DateTime.UtcNow < deadline && !ingestion.HasExited)
    {
        try
        {
            using var response = await http.GetAsync("/health");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }
        await Task.Delay(20);
    }
    throw new TimeoutException(ingestion.HasExited ? "Ingestion.Api exited before it was healthy" : "Ingestion.Api did not become healthy within 90 s");
}

Process Start(Dictionary<string, string> environment)
{
    var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
    info.ArgumentList.Add(dll);
    foreach (var (key, value) in environment)
    {
        info.Environment[key] = value;
    }
    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[ingestion] {e.Data}"); };
    process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[ingestion] {e.Data}"); };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    ProcessReaper.Track(process.Id);
    return process;
}

static void Stop(Process process)
{
    if (!process.HasExited)
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }
    ProcessReaper.Untrack(process.Id);
}
