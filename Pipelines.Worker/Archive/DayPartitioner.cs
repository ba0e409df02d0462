using System.Collections.Concurrent;
using Beacon.Core.Data;
using Npgsql;

namespace Beacon.Worker.Archive;

/// <summary>
/// Creates and drops the day partitions of the archive and the attempt log (<see cref="DayPartitions"/>): created
/// before rows of a day arrive, dropped whole once the day is past the table's retention.
/// </summary>
public sealed class DayPartitioner(NpgsqlDataSource dataSource, ILogger<DayPartitioner> logger)
{
    // Workers changing the partitions of a table at once would collide on the catalog: they take turns.

    private readonly ConcurrentDictionary<(string Table, DateOnly Day), byte> _known = new();

    public async Task EnsureAsync(string table, IEnumerable<DateOnly> days, CancellationToken cancellationToken)
    {
        foreach (var day in days)
        {
            if (_known.ContainsKey((table, day)))
            {
                continue;
            }
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(
                $"SELECT pg_advisory_xact_lock({AdvisoryLocks.PartitionDdl}); {DayPartitions.EnsureSql(table, day)}", connection, transaction);
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.CheckViolation)
            {
                // The default partition already holds rows of that day; they keep landing there.
                logger.LogWarning("Partition of {Table} for {Day} cannot be created: the default partition has its rows", table, day);
            }
            _known[(table, day)] = 0;
        }
    }

    /// <summary>Drops the partitions of days that ended before <paramref name="cutoff"/>; returns their names.</summary>
    public async Task<IReadOnlyList<string>> DropOlderThanAsync(string table, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var old = new List<string>();
        await using (var list = dataSource.CreateCommand(DayPartitions.ListSql))
        {
            list.Parameters.Add(new() { Value = table });
            await using var reader = await list.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(0);
                if (DayPartitions.DayOf(table, name) is { } day && day.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc) <= cutoff.UtcDateTime)
                {
                    old.Add(name);
                }
            }
        }
        foreach (var name in old)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var drop = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({AdvisoryLocks.PartitionDdl}); DROP TABLE IF EXISTS {name}", connection, transaction);
            await drop.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            if (DayPartitions.DayOf(table, name) is { } day)
            {
                _known.TryRemove((table, day), out _);
            }
        }
        return old;
    }
}
