using System.Globalization;

namespace Beacon.AppHost.Tests;

/// <summary>
/// One scenario's figures. Rows are appended (one tab-separated line each) to the file named by
/// <c>BEACON_FAULTS_REPORT</c> when it is set: scripts/faults prints them as the table of docs/reliability.md.
/// </summary>
internal sealed record FaultRow(
    string Fault,
    int Requests,
    TimeSpan LoadFor,
    int Acknowledged,
    int AtWebhook,
    int InEventsTable,
    IReadOnlyDictionary<string, int> NotAcknowledged,
    int AcknowledgedDuringFault,
    TimeSpan? Recovery,
    TimeSpan Drain,
    string Notes)
{
    public int Lost => Acknowledged - Math.Min(AtWebhook, InEventsTable);

    public static bool LongRun => Environment.GetEnvironmentVariable("BEACON_FAULTS_LONG") == "1";

    public void Write()
    {
        var notAcknowledged = NotAcknowledged.Count == 0
            ? "0"
            : string.Join(", ", NotAcknowledged.OrderByDescending(p => p.Value).Select(p => $"{p.Value} {p.Key}"));
        var cells = new[]
        {
            Fault,
            $"{Requests:N0} requests in {LoadFor.TotalSeconds:0} s ({Requests / Math.Max(1, LoadFor.TotalSeconds):0} req/s, {FaultLoad.EventsPerRequest} events each)",
            $"{Acknowledged:N0}",
            $"{AtWebhook:N0} / {InEventsTable:N0}",
            $"**{Lost:N0}**",
            notAcknowledged,
            $"{AcknowledgedDuringFault}",
            Recovery is { } recovery ? $"{recovery.TotalSeconds:0.0} s" : "—",
            $"{Drain.TotalSeconds:0.0} s",
            Notes,
        };
        var line = string.Join("\t", cells.Select(c => c.Replace('\t', ' ').Replace('\n', ' ')));
        Console.WriteLine(line);
        if (Environment.GetEnvironmentVariable("BEACON_FAULTS_REPORT") is { Length: > 0 } path)
        {
            File.AppendAllText(path, line + "\n");
        }
    }

    public static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
