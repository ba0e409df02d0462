using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Beacon.Bench;
using Beacon.GrpcClient;

// scripts/bench: the whole system as scripts/run starts it, next to its floors, in one run and one table; then the
// archive's cost: 100-event end-to-end runs taking turns on two fresh systems, the archive on and off.
// Usage: Beacon.Bench <repository root> [--quick] [--seconds N] [--out FILE.md] [--user-agents-only]
//        (--out replaces what FILE.md holds before its history marker line, BenchDocument.HistoryMarker, and keeps the rest)
//        [--end-to-end-only [--runs N] [--set Section:Key=value ...]]
var root = Path.GetFullPath(args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? ".");
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
var quick = args.Contains("--quick");
var userAgentsOnly = args.Contains("--user-agents-only"); // the crafted User-Agent row alone, on the system as it starts
var endToEndOnly = args.Contains("--end-to-end-only"); // the 100-event end-to-end row alone, --runs times
// AppHost settings for the measured system (--set Worker:MaxConcurrentWebhookBatches=4): an A/B of one setting.
string[] settings = [.. args.Select((a, i) => (a, i)).Where(p => p.a == "--set" && p.i + 1 < args.Length)
    .SelectMany(p => args[p.i + 1].Split('=', 2) is [var key, var value]
        ? new[] { "--" + key, value }
        : throw new ArgumentException($"--set {args[p.i + 1]}: expected Section:Key=value"))];
var seconds = int.Parse(Option("--seconds") ?? (quick ? "3" : "15"), CultureInfo.InvariantCulture);
var warmUp = quick ? 1 : 5; // seconds; on a loaded machine tiered JIT needs a few before the hot code is optimized
var drainLimit = TimeSpan.FromSeconds(quick ? 30 : 120);
var output = Option("--out");
const int Connections = 64;
const int ArchiveTurns = 2; // measured runs of each archive system
const int Batch = 100;
var command = Environment.GetEnvironmentVariable("BENCH_COMMAND") ?? "scripts/bench " + string.Join(' ', args.Skip(1));
var revision = Environment.GetEnvironmentVariable("BENCH_REVISION") is { Length: > 0 } r ? $" at `{r}`" : "";

using var stop = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
var ct = stop.Token;

var work = Path.Combine(Path.GetTempPath(), "beacon-bench-" + Guid.NewGuid().ToString("N")[..8]);
// Postgres runs as the postgres user when the bench runs as root: it must reach its data directory.
Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
void Say(string line) => Console.Error.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {line}");
static string Load() => File.ReadAllText("/proc/loadavg").Trim();

var started = Stopwatch.StartNew();
var loadAtStart = Load();
var keepLog = true; // a failed run keeps the AppHost's log (the services' logs are in it)
var cleanup = new Stack<Func<ValueTask>>();
try
{
    var receiver = await WebhookReceiver.StartAsync();
    cleanup.Push(receiver.DisposeAsync);
    Say($"starting the system (AppHost headless, data in {work}/data, log in {work}/apphost.log)");
    var rig = await SystemRig.StartAsync(root, work, settings, receiver, drainLimit, ct);
    cleanup.Push(rig.DisposeAsync);
    var (system, token) = (rig.System, rig.Token);
    Say($"up after {started.Elapsed.TotalSeconds:0} s: ingestion {system.IngestionUrl}, gRPC {system.GrpcUrl}");
    var bytesPerEvent = await rig.ProbeAsync(Batch, ct);
    Say($"both pipelines deliver; the queue holds {bytesPerEvent} bytes per event");

    if (userAgentsOnly)
    {
        var (browser, crafted) = await UserAgentRunsAsync();
        Console.WriteLine($"POST /beacon, 1 event/request, req/s (wrk -t2 -c64, {seconds} s each): browser User-Agent {browser.EventsPerSecond:N0}, " +
                          $"unique crafted User-Agents {crafted.EventsPerSecond:N0}, ratio {crafted.EventsPerSecond / Math.Max(1, browser.EventsPerSecond):0.00}× (target ≥ 0.5×); " +
                          $"non-2xx {browser.Errors} / {crafted.Errors}");
        // Each shape alone (the order of tests/Load/GrpcBench/beacon-batch.lua), to see which one costs the most.
        for (var shape = 0; shape < 6; shape++)
        {
            var alone = await UserAgentRunAsync($"crafted{shape}");
            Console.WriteLine($"  shape {shape} alone: {alone.EventsPerSecond:N0} req/s, {alone.EventsPerSecond / Math.Max(1, browser.EventsPerSecond):0.00}×");
        }
        Console.WriteLine($"/proc/loadavg at the start: {loadAtStart}, now: {File.ReadAllText("/proc/loadavg").Trim()}");
        keepLog = false;
        return 0;
    }

    if (endToEndOnly)
    {
        var runs = int.Parse(Option("--runs") ?? "3", CultureInfo.InvariantCulture);
        using var sampleRuns = new CancellationTokenSource();
        var runMemory = rig.Meter.SampleMemoryAsync(sampleRuns.Token);
        Console.WriteLine($"100-event POST /beacon with unique ids, wrk -t2 -c{Connections}, {seconds} s a run, both pipelines on{(settings.Length > 0 ? ", " + string.Join(' ', settings) : "")}");
        for (var run = 1; run <= runs; run++)
        {
            var m = await EndToEndAsync(rig);
            var accepted = m.Load.EventsPerSecond;
            Console.WriteLine($"  run {run}: accepted {accepted:N0} events/s; delivered to the events table {m.TableRate:N0}/s ({m.TableRate / Math.Max(1, accepted):0.00}×), " +
                              $"to the webhook {m.WebhookRate:N0}/s ({m.WebhookRate / Math.Max(1, accepted):0.00}×); lag at stop {m.LagEvents:N0} events, " +
                              $"drain {(m.Drain is { } d ? $"{d.TotalSeconds:0.0} s" : "not within the limit")}; CPU µs/event {string.Join(", ", m.Cpu.Select(c => $"{c.Key} {c.Value:0.0}"))}; load {Load()}");
        }
        await sampleRuns.CancelAsync();
        await runMemory;
        Console.WriteLine("  peak RSS: " + string.Join(", ", rig.Meter.PeakBytes.Select(p => $"{p.Key} {p.Value / (1024 * 1024)} MB")));
        keepLog = false;
        return 0;
    }

    var nginx = await FloorServer.NginxAsync(work);
    cleanup.Push(() => { nginx.Dispose(); return ValueTask.CompletedTask; });
    var bare = await FloorServer.BareKestrelAsync(root);
    cleanup.Push(() => { bare.Dispose(); return ValueTask.CompletedTask; });
    var redisFloor = await FloorServer.RedisAsync(work);
    cleanup.Push(() => { redisFloor.Dispose(); return ValueTask.CompletedTask; });

    var meter = rig.Meter;
    using var sampling = new CancellationTokenSource();
    var memory = meter.SampleMemoryAsync(sampling.Token);

    // 1. One event per request: the door against nginx `return 204` and Kestrel reading the body and answering 204.
    async Task<LoadRun> WrkAsync(string url, string path, int batch)
    {
        await Wrk.RunAsync(url, path, token, batch, warmUp, Connections, ct);
        return (await Wrk.RunAsync(url, path, token, batch, seconds, Connections, ct)).Events(batch);
    }
    Say("1-event requests: nginx, bare Kestrel, POST /beacon");
    var nginx1 = await WrkAsync(nginx.Url, "/beacon", 1);
    var bare1 = await WrkAsync(bare.Url, "/bare", 1);
    await Wrk.RunAsync(system.IngestionUrl, "/beacon", token, 1, warmUp, Connections, ct);
    var beacon1 = await rig.MeasureAsync(async () => (await Wrk.RunAsync(system.IngestionUrl, "/beacon", token, 1, seconds, Connections, ct)).Events(1), 1, ct);

    Say("1-event requests: a browser's User-Agent vs unique crafted User-Agents");
    var (browserUserAgent, craftedUserAgents) = await UserAgentRunsAsync();

    // 2. 100-event batches with unique ids, both pipelines on: the door against the XADD floor, and the worker against the door.
    Say("100-event batches, end to end (events table and webhook)");
    var batch100 = await EndToEndAsync(rig);

    // 3. gRPC Stream, 100-event batches with unique ids (the load generator of tests/Load/GrpcClient, in this process).
    Say("gRPC Stream, 100-event batches");
    await LoadGenerator.StreamAsync(new Uri(system.GrpcUrl), token, 2, 8, 8, Batch, TimeSpan.Zero, TimeSpan.FromSeconds(warmUp));
    var grpc = await rig.MeasureAsync(async () =>
    {
        var result = await LoadGenerator.StreamAsync(new Uri(system.GrpcUrl), token, 2, 8, 8, Batch, TimeSpan.Zero, TimeSpan.FromSeconds(seconds));
        return new LoadRun(result.EventsPerSecond, result.Errors, result.Elapsed.TotalSeconds);
    }, Batch, ct);

    // 4. Latency at half of the 1-event maximum, POST /beacon and nginx at the same fixed rate.
    var halfRate = Math.Max(10, beacon1.Load.EventsPerSecond / 2);
    Say($"latency at {halfRate:N0} requests/s (half of the 1-event maximum)");
    await rig.WaitDrainedAsync(ct);
    var latency = await FixedRateClient.RunAsync(system.IngestionUrl + "/beacon", token, halfRate, seconds, Connections, ct);
    var latencyFloor = await FixedRateClient.RunAsync(nginx.Url + "/beacon", token, halfRate, seconds, Connections, ct);
    await sampling.CancelAsync();
    await memory;

    // 5. The queue's floor, last: it shares the cores with an idle system.
    Say("redis-benchmark XADD");
    var xadd = await XaddFloor.EventsPerSecondAsync(redisFloor, bytesPerEvent, seconds, ct);

    // 6. The cost of what traces and replays read (issue 17: at most 10% of the end-to-end capacity), on two fresh
    // systems started the same way but for no archive and no attempt log (Worker:ArchiveRetention=0,
    // Worker:AttemptLogRetention=0) on one of them, the first system stopped: both with the same
    // history (one whole end-to-end run first, not counted, so both are warm), then their measured runs taking turns,
    // on, off, on, off, so a drift of the machine's speed during the run falls on both alike.
    var loadBeforeArchiveOff = Load();
    await rig.DisposeAsync();
    Say("the archive's cost: two fresh systems, archive and attempt log on and off, 100-event end-to-end runs taking turns");
    var systems = await Task.WhenAll(
        SystemRig.StartAsync(root, Path.Combine(work, "archive-on"), [], receiver, drainLimit, ct),
        SystemRig.StartAsync(root, Path.Combine(work, "archive-off"),
            ["--Worker:ArchiveRetention", "00:00:00", "--Worker:AttemptLogRetention", "00:00:00"], receiver, drainLimit, ct));
    var (withArchive, withoutArchive) = (systems[0], systems[1]);
    cleanup.Push(withArchive.DisposeAsync);
    cleanup.Push(withoutArchive.DisposeAsync);
    foreach (var warm in systems)
    {
        await warm.ProbeAsync(Batch, ct);
        await EndToEndAsync(warm);
    }
    var archiveOn = new List<Measured>();
    var archiveOff = new List<Measured>();
    for (var turn = 0; turn < ArchiveTurns; turn++)
    {
        archiveOn.Add(await EndToEndAsync(withArchive));
        archiveOff.Add(await EndToEndAsync(withoutArchive));
    }
    await withArchive.DisposeAsync();
    await withoutArchive.DisposeAsync();

    var table = Table();
    Console.WriteLine(table);
    if (output is not null)
    {
        var existing = File.Exists(output) ? await File.ReadAllTextAsync(output, ct) : null;
        await File.WriteAllTextAsync(output, BenchDocument.Merge(table, existing), ct);
        Say($"written to {output}");
    }
    Say($"done in {started.Elapsed.TotalSeconds:0} s");
    keepLog = false;
    return 0;

    // The same 1-event requests with a desktop Chrome's User-Agent, then with a unique crafted one each (six shapes made
    // to make the parser work hardest, tests/Load/GrpcBench/beacon-batch.lua): the parser's cache never helps them.
    async Task<(LoadRun Browser, LoadRun Crafted)> UserAgentRunsAsync() =>
        (await UserAgentRunAsync("browser"), await UserAgentRunAsync("crafted"));

    async Task<LoadRun> UserAgentRunAsync(string userAgents)
    {
        await Wrk.RunAsync(system.IngestionUrl, "/beacon", token, 1, warmUp, Connections, ct, userAgents);
        return (await Wrk.RunAsync(system.IngestionUrl, "/beacon", token, 1, seconds, Connections, ct, userAgents)).Events(1);
    }

    // 100-event batches with unique ids into both pipelines: the worker against the door.
    async Task<Measured> EndToEndAsync(SystemRig on)
    {
        await Wrk.RunAsync(on.System.IngestionUrl, "/beacon", on.Token, Batch, warmUp, Connections, ct);
        return await on.MeasureAsync(async () => (await Wrk.RunAsync(on.System.IngestionUrl, "/beacon", on.Token, Batch, seconds, Connections, ct)).Events(Batch), Batch, ct);
    }

    string Table()
    {
        var ci = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        var cpuModel = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        md.AppendLine("# Beacon benchmark").AppendLine();
        md.AppendLine(ci, $"`{command}`{revision} — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC — {Environment.ProcessorCount} cores ({cpuModel}) — {seconds} s per run{(quick ? " (--quick: a smoke test, not a measurement)" : "")}");
        md.AppendLine().AppendLine(ci, $"/proc/loadavg at the start: {loadAtStart}; before the archive on/off systems: {loadBeforeArchiveOff}; at the end: {Load()}. Everything (system, floors, load generators) shares the same cores.").AppendLine();
        md.AppendLine("| measure | Beacon | floor, same run | ratio | target |");
        md.AppendLine("|---|---:|---:|---:|---|");
        string N(double v) => v.ToString("N0", ci);
        string R(double a, double b) => b <= 0 ? "–" : (a / b).ToString("0.00", ci) + "×";
        string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.0", ci) + " ms";
        void Row(string measure, string value, string floor, string ratio, string target) => md.AppendLine($"| {measure} | {value} | {floor} | {ratio} | {target} |");

        var b1 = beacon1.Load.EventsPerSecond;
        Row("`POST /beacon`, 1 event/request, req/s (wrk -t2 -c64)", N(b1), $"nginx `return 204`: {N(nginx1.EventsPerSecond)}", R(b1, nginx1.EventsPerSecond), "≥ 0.40×");
        Row("〃", N(b1), $"bare Kestrel read body, 204: {N(bare1.EventsPerSecond)}", R(b1, bare1.EventsPerSecond), "≥ 0.5×");
        Row("`POST /beacon`, 1 event/request, a unique crafted User-Agent each (6 shapes), req/s", N(craftedUserAgents.EventsPerSecond),
            $"a browser's User-Agent: {N(browserUserAgent.EventsPerSecond)}", R(craftedUserAgents.EventsPerSecond, browserUserAgent.EventsPerSecond), "≥ 0.5×");
        var e100 = batch100.Load.EventsPerSecond;
        Row("`POST /beacon`, 100-event batches, unique ids, accepted events/s", N(e100), $"redis-benchmark XADD: {N(xadd)} events/s", R(e100, xadd), "≥ 0.75×");
        var eg = grpc.Load.EventsPerSecond;
        Row("gRPC `Stream`, 100-event batches, unique ids, events/s", N(eg), $"`POST /beacon` 100-event: {N(e100)}", R(eg, e100), "≥ 1.5×");
        Row("end to end (100-event run): delivered into the events table, events/s", N(batch100.TableRate), $"accepted: {N(e100)}", R(batch100.TableRate, e100), "≥ 0.9×");
        Row("end to end: delivered to the webhook (distinct ids), events/s", N(batch100.WebhookRate), $"accepted: {N(e100)}", R(batch100.WebhookRate, e100), "≥ 0.9×");
        Row("end to end: lag when the load stops (accepted events not yet in the events table)", $"{N(batch100.LagEvents)} ({(e100 > 0 ? batch100.LagEvents / e100 : 0).ToString("0.0", ci)} s of load)", "", "", "bounded");
        Row("end to end: drain time after the load stops", batch100.Drain is { } d ? $"{d.TotalSeconds.ToString("0.0", ci)} s" : $"> {drainLimit.TotalSeconds:0} s", "", "", "≤ 2 s");
        Row($"`POST /beacon` 1 event, p50 / p99 at {N(latency.Rate)} req/s (half of max; fixed rate, from the due time)",
            $"{Ms(latency.P50)} / {Ms(latency.P99)}", $"nginx: {Ms(latencyFloor.P50)} / {Ms(latencyFloor.P99)}", R(latency.P99.TotalMilliseconds, latencyFloor.P99.TotalMilliseconds) + " (p99)", "p99 ≤ 5 ms");
        foreach (var (role, bytes) in meter.PeakBytes.OrderBy(p => RoleOrder(p.Key)))
        {
            var what = role switch
            {
                BeaconSystem.Postgres => "PSS summed over its processes",
                BeaconSystem.Orchestration => "RSS summed",
                _ => "RSS",
            };
            Row($"peak memory under load: {role} ({what})", (bytes / 1048576.0).ToString("0", ci) + " MB", "", "",
                role is BeaconSystem.Ingestion or BeaconSystem.Worker or BeaconSystem.Admin ? "≤ 250 MB" : "");
        }
        double Mean(List<Measured> runs, Func<Measured, double> rate) => runs.Average(rate);
        double CpuOf(IEnumerable<Measured> runs) => runs.Sum(m => m.Cpu.Values.Where(v => v > 0).Sum()) * 1e6 / Math.Max(1, runs.Sum(m => m.Appended));
        string Turns(Func<Measured, double> rate) => string.Join(", ", archiveOn.Zip(archiveOff, (on, off) => R(rate(on), rate(off))));
        Row($"archive and attempt log on / off (two fresh systems, {ArchiveTurns} runs each taking turns): 100-event `/beacon`, accepted events/s",
            $"{N(Mean(archiveOn, m => m.Load.EventsPerSecond))} / {N(Mean(archiveOff, m => m.Load.EventsPerSecond))}", "", "", "");
        Row("**the archive's cost** (archive and attempt log, what traces and replays read): end to end into the events table, on / off, events/s",
            $"{N(Mean(archiveOn, m => m.TableRate))} / {N(Mean(archiveOff, m => m.TableRate))}", $"each turn: {Turns(m => m.TableRate)}",
            R(Mean(archiveOn, m => m.TableRate), Mean(archiveOff, m => m.TableRate)), "≥ 0.90×");
        Row("〃 delivered to the webhook, on / off, events/s",
            $"{N(Mean(archiveOn, m => m.WebhookRate))} / {N(Mean(archiveOff, m => m.WebhookRate))}", $"each turn: {Turns(m => m.WebhookRate)}",
            R(Mean(archiveOn, m => m.WebhookRate), Mean(archiveOff, m => m.WebhookRate)), "≥ 0.90×");
        Row("〃 CPU µs per event, every process summed, on / off (100-event end to end)",
            $"{CpuOf(archiveOn).ToString("0.0", ci)} / {CpuOf(archiveOff).ToString("0.0", ci)}", $"each turn: {string.Join(", ", archiveOn.Zip(archiveOff, (on, off) => R(CpuOf([off]), CpuOf([on]))))}",
            R(CpuOf(archiveOff), CpuOf(archiveOn)) + " (off / on)", "≥ 0.90×");
        foreach (var (name, measured) in (ReadOnlySpan<(string, Measured)>)[("1-event `/beacon`", beacon1), ("100-event `/beacon` end to end", batch100), ("gRPC `Stream`", grpc),
                     ("100-event `/beacon` end to end, archive on (fresh system, last turn)", archiveOn[^1]),
                     ("100-event `/beacon` end to end, archive and attempt log off (fresh system, last turn)", archiveOff[^1])])
        {
            var parts = measured.Cpu.Where(p => p.Value > 0).OrderBy(p => RoleOrder(p.Key))
                .Select(p => $"{p.Key} {(p.Value * 1e6 / Math.Max(1, measured.Appended)).ToString("0.0", ci)}");
            Row($"CPU µs per event, {name} (load and drain, per event in the stream)", string.Join(", ", parts), "", "", "");
        }
        var errors = beacon1.Load.Errors + browserUserAgent.Errors + craftedUserAgents.Errors + batch100.Load.Errors + grpc.Load.Errors + latency.Errors
            + archiveOn.Sum(m => m.Load.Errors) + archiveOff.Sum(m => m.Load.Errors);
        md.AppendLine();
        md.AppendLine(ci, $"Errors (non-2xx, failed calls): {errors}; duplicate deliveries at the webhook: {archiveOff[^1].Duplicates}.");
        md.AppendLine();
        md.AppendLine("""
            How each figure is made (`tests/Load/Bench`):
            - The system is the Release AppHost as `scripts/run` starts it (headless, services in Production), with its own data
              directory and ports; one store with a token without rate limits and two pipelines, the events table and a webhook
              to a local receiver (Kestrel in the bench process, answering 200, counting distinct event ids).
            - Every event has its own `event_id` (dedup checked and recorded), for every door and floor alike (wrk with
              `tests/Load/GrpcBench/beacon-batch.lua`; the floors get the same requests).
            - nginx: `return 204` (the body is not read), one worker per core, no access log. Bare Kestrel:
              `tests/Load/BareKestrel` (reads the body, answers 204), with Ingestion.Api's GC settings.
            - XADD floor: `redis-benchmark -c 50 -P 100` appending one stream entry per event (`XADD … MAXLEN ~ 100000`)
              with as many bytes as the system's queue holds per event, to a Redis with the AppHost's AOF settings
              (appendonly yes, appendfsync everysec): what Redis alone needs to store each event durably, 100 events per
              round trip as in a 100-event batch, with no HTTP, JSON, validation, enrichment or dedup. In events/s.
            - End to end: the 100-event run; delivered/s is what reached the events table (rows of the store) and the
              webhook while the load ran; lag is what was accepted but not yet in the events table when it stopped; drain is the time until the
              worker's consumer group had nothing left.
            - The archive's cost: after the other runs the first system is stopped and two fresh ones are started the same
              way, one of them with `Worker__ArchiveRetention=0` and `Worker__AttemptLogRetention=0` (no archive and no
              delivery-attempt log: what traces and replays read, issue 17). Each gets one whole 100-event end-to-end run first, not counted (both warm,
              with the same history), then their measured runs take turns (on, off, on, off), so a drift of the machine's
              speed falls on both. On / off compares the mean delivered events/s and the CPU per event summed over every
              process (more stable than a rate on a shared machine: a ratio of 0.90 means the archive costs 10% of the
              capacity when the cores are the limit); each turn's ratio is shown beside it.
            - Latency: a fixed-rate client (wrk2 is not packaged here) sending 1-event requests due at even intervals
              over 64 connections; latency counts from the due time (no coordinated omission), so the client's timer is
              in it: nginx at the same rate is the floor of the measurement itself.
            - Memory: peak over the load runs, sampled every 0.5 s from /proc. CPU: utime + stime from /proc/<pid>/stat,
              from the start of a load until the worker has drained it, per event appended to the stream.
            - Absolute figures depend on the day and on what else runs on the machine; compare a figure only with its
              floor of the same run.
            """);
        return md.ToString();
    }

    static int RoleOrder(string role) => Array.IndexOf<string>(
        [BeaconSystem.Ingestion, BeaconSystem.Worker, BeaconSystem.Admin, BeaconSystem.Redis, BeaconSystem.Postgres, BeaconSystem.Orchestration], role);
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    Say("interrupted");
    keepLog = false;
    return 130;
}
finally
{
    while (cleanup.TryPop(out var dispose))
    {
        try
        {
            await dispose();
        }
        catch (Exception ex)
        {
            Say($"cleanup: {ex.Message}");
        }
    }
    try
    {
        foreach (var directory in keepLog ? [Path.Combine(work, "data"), Path.Combine(work, "archive-on", "data"), Path.Combine(work, "archive-off", "data")] : new[] { work })
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
    {
    }
    if (keepLog)
    {
        Say($"the AppHost's log: {Path.Combine(work, "apphost.log")}");
    }
}
