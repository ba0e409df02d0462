using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Beacon.Bench;

/// <summary>wrk with tests/Load/GrpcBench/beacon-batch.lua: every event carries an event_id unique across runs.</summary>
internal static partial class Wrk
{
    public sealed record Result(long Requests, long Non2xx, double Seconds)
    {
        /// <summary>The events of the answered 2xx requests, per second.</summary>
        public LoadRun Events(int perRequest) => new((Requests - Non2xx) * (double)perRequest / Seconds, Non2xx, Seconds);
    }

    /// <param name="userAgents">"load", "browser", "crafted" or "crafted0" … "crafted5" (one shape): the User-Agents of beacon-batch.lua.</param>
    public static async Task<Result> RunAsync(string baseUrl, string path, string token, int batch, int seconds, int connections,
        CancellationToken cancellationToken, string userAgents = "load")
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
        info.Environment["UA"] = userAgents;
        var output = await Tool.RunAsync(info, cancellationToken);
        var total = TotalPattern().Match(output);
        var non2xx = Non2xxPattern().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var elapsed = double.Parse(total.Groups[2].Value, CultureInfo.InvariantCulture) * (total.Groups[3].Value == "m" ? 60 : 1);
        return new Result(long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture), non2xx, elapsed);
    }

    // wrk prints the time in minutes from a minute on ("1.00m").
    [GeneratedRegex(@"(\d+) requests in ([\d.]+)(s|m),")]
    private static partial Regex TotalPattern();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xxPattern();
}
