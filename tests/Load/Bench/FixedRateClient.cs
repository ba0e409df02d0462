using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Beacon.Bench;

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
