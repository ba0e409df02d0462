namespace Beacon.Core.Data;

/// <summary>
/// Tables partitioned by UTC day (<c>events</c>, <c>event_archive</c>, <c>delivery_attempts</c>): partition names
/// <c>&lt;table&gt;_yyyyMMdd</c>, the SQL that creates one, and the day a partition's name stands for, so retention
/// drops whole days instead of deleting rows.
/// </summary>
public static class DayPartitions
{
    public static string Name(string table, DateOnly day) => $"{table}_{day:yyyyMMdd}";

    public static string EnsureSql(string table, DateOnly day) =>
        $"CREATE TABLE IF NOT EXISTS {Name(table, day)} PARTITION OF {table} FOR VALUES FROM ('{day:yyyy-MM-dd}') TO ('{day.AddDays(1):yyyy-MM-dd}');";

    /// <summary>The partitions of <paramref name="table"/> (names), default partition included.</summary>
    public const string ListSql = """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = $1
        """;

    /// <summary>The day of a partition named by <see cref="Name"/>; null for the default partition or any other name.</summary>
    public static DateOnly? DayOf(string table, string partition) =>
        partition.Length == table.Length + 9 && partition.StartsWith(table + "_", StringComparison.Ordinal)
        && DateOnly.TryParseExact(partition[(table.Length + 1)..], "yyyyMMdd", out var day)
            ? day
            : null;
}
