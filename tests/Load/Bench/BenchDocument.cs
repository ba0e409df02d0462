namespace Beacon.Bench;

/// <summary>
/// The document <c>scripts/bench --out</c> writes: the new table on top, and whatever the file holds from
/// <see cref="HistoryMarker"/> on kept as it was, so the history written by hand survives each run.
/// </summary>
internal static class BenchDocument
{
    public const string HistoryMarker = "<!-- history: kept by scripts/bench --out -->";

    /// <summary>
    /// The table followed by <paramref name="existing"/>'s text from the marker line to its end; with no file or no
    /// marker line, the table followed by the marker alone (a file without it is all table, replaced whole).
    /// </summary>
    public static string Merge(string table, string? existing)
    {
        var kept = HistoryMarker + "\n";
        if (existing is not null)
        {
            var at = existing.StartsWith(HistoryMarker, StringComparison.Ordinal)
                ? 0
                : existing.IndexOf("\n" + HistoryMarker, StringComparison.Ordinal) is var i and >= 0 ? i + 1 : -1;
            if (at >= 0)
            {
                kept = existing[at..];
            }
        }
        return table.TrimEnd() + "\n\n" + kept;
    }
}
