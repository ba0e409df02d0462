using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Beacon.Bench;

/// <summary>
/// The queue's floor: redis-benchmark appending one stream entry per event, each holding as many bytes as the system
/// writes per event, pipelined 100 deep (one 100-event batch per round trip), to a Redis with the AppHost's AOF settings.
/// What Redis alone does to store each event durably, with no HTTP, JSON, validation, enrichment or dedup.
/// </summary>
internal static partial class XaddFloor
{
    public const int Pipeline = 100;
    public const int Clients = 50;

    public static async Task<double> EventsPerSecondAsync(FloorServer redis, int bytesPerEvent, int seconds, CancellationToken cancellationToken)
    {
        var payload = new string('x', Math.Max(1, bytesPerEvent));
        // redis-benchmark has no duration: a first run of a fixed size gives the rate, the second lasts about `seconds`.
        var rate = await RunAsync(redis, payload, 200_000, cancellationToken);
        var requests = (long)Math.Max(200_000, rate * seconds);
        return requests <= 200_000 ? rate : await RunAsync(redis, payload, requests, cancellationToken);
    }

    private static async Task<double> RunAsync(FloorServer redis, string payload, long requests, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("redis-benchmark")
        {
            ArgumentList =
            {
                "-p", redis.Url, "-q", "-c", $"{Clients}", "-P", $"{Pipeline}", "-n", $"{requests}",
                // Trimmed as a worker that keeps up keeps the stream: a stream of gigabytes would have Redis rewrite its AOF.
                "XADD", "bench:events", "MAXLEN", "~", "100000", "*", "e", payload,
            },
        };
        var output = await Tool.RunAsync(info, cancellationToken);
        var matches = RatePattern().Matches(output);
        return matches.Count == 0
            ? throw new InvalidOperationException("redis-benchmark printed no rate: " + output)
            : double.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"([\d.]+) requests per second")]
    private static partial Regex RatePattern();
}
