using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Beacon.Load.Fuzz;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using StackExchange.Redis;

// Sends bad bodies (BadBodies) to a Release Ingestion.Api over sockets, with real Postgres and Redis: a third each to
// POST /beacon, POST /api/v1/events and gRPC Send. Reports answers by status, 5xx, crashes, the server's peak RSS and
// whether every queued entry reads with the worker's reader (QueueEntries.Read). Exit code 1 on any 5xx, gRPC
// INTERNAL/UNKNOWN, crash or unreadable entry. README: "Fuzzing".
// Usage: dotnet run -c Release --project tests/Load/Fuzz -- <Ingestion.Api.dll> [bodies=100000] [concurrency=16] [seed=20251202]
// FUZZ_MINUTES=<n> stops sending after n minutes and reports what was sent (a shared machine may be slow).
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Fuzz <Ingestion.Api.dll> [bodies=100000] [concurrency=16] [seed=20251202]");
    return 2;
}
var ingestionDll = Path.GetFullPath(args[0]);
var total = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 20251202;

await using var postgres = await PostgresServer.StartAsync();
await using var redisServer = await RedisServer.StartAsync(appendOnly: true);
var backends = new Backends { Postgres = postgres, Redis = redisServer };
await using (var db = backends.CreateDbContext())
{
    await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
}
// Limits far above what the run sends: every body is read and answered instead of refused with 429.
var store = await backends.CreateStoreAsync(name: "fuzz", rateLimitPerMinute: 100_000_000, rateLimitPerIpPerMinute: 100_000_000);
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);

var httpPort = FreePort.Next();
var grpcPort = FreePort.Next();
var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(ingestionDll)! };
info.ArgumentList.Add(ingestionDll);
info.Environment["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{httpPort}";
info.Environment["Kestrel__Endpoints__grpc__Url"] = $"http://127.0.0.1:{grpcPort}";
info.Environment["ConnectionStrings__beacondb"] = postgres.ConnectionString();
info.Environment["ConnectionStrings__redis"] = redisServer.ConnectionString;
info.Environment["Logging__LogLevel__Default"] = "Warning";
info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
using var server = Process.Start(info)!;
ProcessReaper.Track(server.Id);
var serverLog = new ConcurrentQueue<string>();
server.OutputDataReceived += (_, e) => { if (e.Data is not null) serverLog.Enqueue(e.Data); };
server.ErrorDataReceived += (_, e) => { if (e.Data is not null) serverLog.Enqueue(e.Data); };
server.BeginOutputReadLine();
server.BeginErrorReadLine();

var rawSend = new Method<byte[], SendEventsResponse>(MethodType.Unary, EventIngest.Descriptor.FullName, "Send",
    Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create((SendEventsResponse r) => r.ToByteArray(), SendEventsResponse.Parser.ParseFrom));
try
{
    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(60) };
    await WaitUntilUpAsync(http);
    using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", new GrpcChannelOptions { MaxSendMessageSize = null });
    var invoker = channel.CreateCallInvoker();
    var metadata = new Metadata { { "x-storefront-access-token", store.Token } };

    var answers = new ConcurrentDictionary<string, int>();
    var failures = new ConcurrentQueue<string>();
    long acceptedGrpc = 0;
    var started = Stopwatch.StartNew();
    var done = 0;
    using var stop = new CancellationTokenSource();
    if (Environment.GetEnvironmentVariable("FUZZ_MINUTES") is { } minutes)
    {
        stop.CancelAfter(TimeSpan.FromMinutes(double.Parse(minutes, CultureInfo.InvariantCulture)));
    }
    try
    {
        await Parallel.ForAsync(0, total, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = stop.Token }, async (i, _) =>
        {
            var cancellationToken = CancellationToken.None; // a body being sent is answered even after the time is up
            var random = new Random(seed + i); // each body depends on its index alone, not on the order of the run
            string door;
            string answer;
            try
            {
                if (i % 3 == 2)
                {
                    door = "gRPC Send";
                    var body = BadBodies.Grpc(random, i / 3);
                    try
                    {
                        var response = await invoker.AsyncUnaryCall(rawSend, null, new CallOptions(metadata, deadline: DateTime.UtcNow.AddSeconds(60)), body);
                        Interlocked.Add(ref acceptedGrpc, response.Accepted);
                        answer = "OK";
                    }
                    catch (RpcException ex)
                    {
                        answer = ex.StatusCode.ToString();
                        if (ex.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss)
                        {
                            failures.Enqueue($"gRPC #{i} {ex.StatusCode} {ex.Status.Detail}: {Convert.ToBase64String(body.AsSpan(0, Math.Min(300, body.Length)))}");
                        }
                    }
                }
                else
                {
                    var alana = i % 3 == 1;
                    door = alana ? "POST /api/v1/events" : "POST /beacon";
                    var body = BadBodies.Json(random, i / 3);
                    // /beacon takes `token`, the Alana door `key` (DESIGN §3).
                    var query = (i / 3 % 4 == 0 ? "?validate=1&" : "?") + (alana ? "key=" : "token=") + Uri.EscapeDataString(store.Token);
                    using var response = await http.PostAsync((alana ? "/api/v1/events" : "/beacon") + query, new ByteArrayContent(body), cancellationToken);
                    answer = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Enqueue($"{door} #{i} {answer}: {Convert.ToBase64String(body.AsSpan(0, Math.Min(300, body.Length)))}");
                    }
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                door = i % 3 == 2 ? "gRPC Send" : i % 3 == 1 ? "POST /api/v1/events" : "POST /beacon";
                answer = "no answer: " + ex.GetType().Name;
                failures.Enqueue($"{door} #{i}: {ex.Message}");
            }
            answers.AddOrUpdate($"{door} | {answer}", 1, (_, n) => n + 1);
            if (Interlocked.Increment(ref done) % 10_000 == 0)
            {
                Console.Error.WriteLine($"{done:N0} bodies, {done / started.Elapsed.TotalSeconds:N0}/s, peak RSS {PeakRssMegabytes(server.Id):N0} MB");
            }
        });
    }
    catch (OperationCanceledException) when (stop.IsCancellationRequested)
    {
        Console.Error.WriteLine($"FUZZ_MINUTES is up: {done:N0} of {total:N0} bodies sent");
    }
    total = done;
    var elapsed = started.Elapsed;
    var crashed = server.HasExited;
    var peakRss = crashed ? double.NaN : PeakRssMegabytes(server.Id);

    // Every entry the doors queued must read with the worker's reader (Pipelines.Worker decodes with QueueEntries.Read),
    // read in pages: 100,000 bodies queue gigabytes.
    var (entries, events, unreadable) = (0, 0, 0);
    RedisValue after = "-";
    while (true)
    {
        // The server runs with the default single partition.
        var page = await redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0), after, "+", count: 100);
        var fresh = page.Where(entry => entry.Id != after).ToList();
        if (fresh.Count == 0)
        {
            break;
        }
        foreach (var entry in fresh)
        {
            entries++;
            try
            {
                events += QueueEntries.Read(entry.Values).Count;
            }
            catch (InvalidProtocolBufferException ex)
            {
                unreadable++;
                Console.Error.WriteLine($"unreadable entry {entry.Id}: {ex.Message}: {Convert.ToBase64String((byte[])entry.Values[0].Value!)}");
                failures.Enqueue($"unreadable entry {entry.Id}");
            }
        }
        after = fresh[^1].Id;
    }

    Console.WriteLine($"{total:N0} bodies (seed {seed}, {concurrency} at a time) in {elapsed.TotalSeconds:N0} s ({total / elapsed.TotalSeconds:N0}/s), " +
                      $"{Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    Console.WriteLine();
    Console.WriteLine("| door | answer | bodies |");
    Console.WriteLine("|---|---|---:|");
    foreach (var (key, count) in answers.OrderBy(a => a.Key, StringComparer.Ordinal))
    {
        Console.WriteLine($"| {key} | {count:N0} |");
    }
    Console.WriteLine();
    var fiveHundreds = answers.Where(a => a.Key.Split(" | ")[1].StartsWith('5')).Sum(a => a.Value);
    Console.WriteLine($"5xx: {fiveHundreds}; gRPC INTERNAL/UNKNOWN/DATA_LOSS: {answers.Where(a => a.Key.EndsWith("| Internal") || a.Key.EndsWith("| Unknown") || a.Key.EndsWith("| DataLoss")).Sum(a => a.Value)}; " +
                      $"no answer: {answers.Where(a => a.Key.Contains("no answer")).Sum(a => a.Value)}; server crashed: {(crashed ? "yes" : "no")}; peak RSS of the server: {peakRss:N0} MB");
    Console.WriteLine($"queued: {entries:N0} stream entries, {events:N0} events read back with QueueEntries.Read (gRPC accepted {acceptedGrpc:N0}), unreadable entries: {unreadable}");
    foreach (var failure in failures.Take(20))
    {
        Console.Error.WriteLine(failure);
    }
    if (!failures.IsEmpty || crashed)
    {
        foreach (var line in serverLog.TakeLast(50))
        {
            Console.Error.WriteLine("[server] " + line);
        }
    }
    return failures.IsEmpty && !crashed ? 0 : 1;
}
finally
{
    if (!server.HasExited)
    {
        server.Kill(entireProcessTree: true);
        server.WaitForExit(10_000);
    }
    ProcessReaper.Untrack(server.Id);
}

// VmHWM: the process's peak resident set size.
static double PeakRssMegabytes(int pid) =>
    File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
        .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).Single();

static async Task WaitUntilUpAsync(HttpClient http)
{
    var deadline = DateTime.UtcNow.AddSeconds(60);
    while (true)
    {
        try
        {
            if ((await http.GetAsync("/alive")).StatusCode == HttpStatusCode.OK)
            {
                return;
            }
        }
        catch (HttpRequestException) when (DateTime.UtcNow < deadline)
        {
        }
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("Ingestion.Api did not come up");
        }
        await Task.Delay(200);
    }
}
