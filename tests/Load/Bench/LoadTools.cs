using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Beacon.Bench;

internal sealed record WrkResult(double RequestsPerSecond, long Requests, long Non2xx, double Seconds)
{
    /// <summary>The events of the answered 2xx requests, per second.</summary>
    public LoadRun Events(int perRequest) => new((Requests - Non2xx) * (double)perRequest / Seconds, Non2xx, Seconds);
}

/// <summary>What a load run achieved: events accepted per second (2xx answers or acks only), failed requests or calls.</summary>
internal sealed record LoadRun(double EventsPerSecond, long Errors, double Seconds);

/// <summary>wrk with tests/Load/GrpcBench/beacon-batch.lua: every event carries an event_id unique across runs.</summary>
internal static partial class Wrk
{
    public static async Task<WrkResult> RunAsync(string baseUrl, string path, string token, int batch, int seconds, int connections, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["-t2", $"-c{connections}", $"-d{seconds}s", "-s", Path.Combine(AppContext.BaseDirectory, "beacon-batch.lua"), baseUrl + path])
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["BATCH"] = $"{batch}";
        info.Environment["TOKEN"] = token;
        info.Environment["RUN"] = Guid.NewGuid().ToString("N")[..12];
        info.Environment["URL_PATH"] = path;
        var output = await Tool.RunAsync(info, cancellationToken);
        var total = long.Parse(TotalPattern().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var seconds2 = double.Parse(TotalPattern().Match(output).Groups[2].Value, CultureInfo.InvariantCulture);
        var non2xx = Non2xxPattern().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var rate = double.Parse(RatePattern().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        return new WrkResult(rate, total, non2xx, seconds2);
    }

    [GeneratedRegex(@"(\d+) requests in ([\d.]+)s")]
    private static partial Regex TotalPattern();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xxPattern();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RatePattern();
}

internal static class Tool
{
    /// <summary>Runs a tool to its end and returns what it printed; a failure is an exception with its output.</summary>
    public static async Task<string> RunAsync(ProcessStartInfo info, CancellationToken cancellationToken)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info)!;
        ProcessReaper.Track(process.Id);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{info.FileName} exited with {process.ExitCode}: {await output}{await error}");
            }
            return await output;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            ProcessReaper.Untrack(process.Id);
        }
    }
}

/// <summary>
/// The fixed-rate client for latency (wrk2 is not packaged here): request i is due at start + i / rate and its
/// latency is counted from that moment, not from when it was sent, so a stalled server is not hidden by a client
/// that waited for it (no coordinated omission). Each request has its own event_id.
/// </summary>
internal static class FixedRateClient
{
    public sealed record Result(double Rate, long Requests, long Errors, TimeSpan P50, TimeSpan P99, TimeSpan Max);

    public static async Task<Result> RunAsync(string url, string token, double rate, int seconds, int connections, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseProxy = false, AutomaticDecompression = DecompressionMethods.None });
        var total = (int)(rate * seconds);
        var latencies = new long[total];
        long next = -1;
        long errors = 0;
        var run = Guid.NewGuid().ToString("N")[..12];
        var start = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) is var i && i < total && !cancellationToken.IsCancellationRequested)
            {
                var due = start + (long)(i / rate * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                // No spinning for the last millisecond (it would take the cores being measured): the timer's lateness
                // counts as latency, for the floor measured the same way too.
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken);
                }
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(OneEvent(run, i), Encoding.UTF8, "application/json") };
                request.Headers.Add("X-Storefront-Access-Token", token);
                try
                {
                    using var response = await http.SendAsync(request, cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
                latencies[i] = Stopwatch.GetTimestamp() - due;
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(start);
        Array.Sort(latencies);
        TimeSpan At(double p) => TimeSpan.FromSeconds((double)latencies[Math.Clamp((int)Math.Ceiling(p * total) - 1, 0, total - 1)] / Stopwatch.Frequency);
        return new Result(total / elapsed.TotalSeconds, total, errors, At(0.50), At(0.99), At(1));
    }

    private static string OneEvent(string run, long i) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"events":[{"event_id":"{{run}}-lat-{{i:D12}}","event_type":"product_view","timestamp":"2026-11-25T12:00:00Z","session_id":"s1","device_id":"d1","product_id":"{{8000000000 + i % 5000}}","shopping_channel":"app"}]}""");
}

/// <summary>A fast local webhook receiver: answers 200 and counts the events and the distinct event ids it got.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HashSet<ulong> _ids = [];
    private long _events;

    private WebhookReceiver(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}/hook";
    }

    public string Url { get; }

    public long Events => Interlocked.Read(ref _events);

    public long DistinctEvents
    {
        get
        {
            lock (_ids)
            {
                return _ids.Count;
            }
        }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, port);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var json = await JsonDocument.ParseAsync(context.Request.Body);
        var events = json.RootElement.GetProperty("events");
        var hashes = new ulong[events.GetArrayLength()];
        var n = 0;
        foreach (var e in events.EnumerateArray())
        {
            hashes[n++] = e.TryGetProperty("event_id", out var id) ? Fnv1a(id.GetString() ?? "") : 0;
        }
        lock (_ids)
        {
            _ids.UnionWith(hashes);
        }
        Interlocked.Add(ref _events, n);
        context.Response.StatusCode = 200;
    }

    // 64-bit FNV-1a: ids are counted, not kept (a million strings would weigh on the machine being measured).
    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
