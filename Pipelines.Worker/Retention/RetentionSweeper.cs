using System.Globalization;
using Beacon.Core.Data;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Retention;

/// <summary>
/// Retention per store (DESIGN §9): events older than the store's <see cref="Store.EventRetentionDays"/> leave the
/// events table, dead letters and quarantined entries older than its <see cref="Store.DeadLetterRetentionDays"/> are
/// purged (<see cref="WorkerOptions.EventRetentionDays"/> and <see cref="WorkerOptions.DeadLetterRetentionDays"/> when a
/// store sets none). Day partitions older than every store's retention are dropped whole; the rest is deleted in chunks,
/// so no statement holds locks long enough to slow delivery. Every worker has the timer, but a pass runs on one worker at a
/// time (a Postgres advisory lock, <see cref="AdvisoryLocks.RetentionPass"/>): N workers would otherwise scan the same tables N times at
/// once and queue behind each other's partition drops. A worker that dies mid-pass loses its session and the lock with it.
/// </summary>
public sealed class RetentionSweeper(NpgsqlDataSource dataSource, TimeProvider time, IOptions<WorkerOptions> options, ILogger<RetentionSweeper> logger)
    : BackgroundService
{
    private const int ChunkSize = 5000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Not at start: a worker starting (or restarting in a loop) must not add a sweep to its start-up each time.
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(options.Value.RetentionInterval, stoppingToken);
                try
                {
                    await TrySweepAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
                {
                    logger.LogWarning(ex, "Could not apply retention; trying again later");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// One round over every place unless another worker is running one; returns what was removed, per place, or null
    /// when the pass was left to the other worker.
    /// </summary>
    public async Task<Dictionary<string, long>?> TrySweepAsync(CancellationToken cancellationToken)
    {
        // A session lock on a connection of its own, held while the pass uses others; closing it releases the lock.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var take = new NpgsqlCommand($"SELECT pg_try_advisory_lock({AdvisoryLocks.RetentionPass})", connection))
        {
            if (await take.ExecuteScalarAsync(cancellationToken) is not true)
            {
                logger.LogDebug("Another worker is applying retention; this one skips its pass");
                return null;
            }
        }
        try
        {
            return await SweepAsync(cancellationToken);
        }
        finally
        {
            await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({AdvisoryLocks.RetentionPass})", connection);
            await release.ExecuteScalarAsync(CancellationToken.None);
        }
    }

    private async Task<Dictionary<string, long>> SweepAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var swept = new Dictionary<string, long>
        {
            ["event_partitions"] = await DropExpiredPartitionsAsync(now, settings.EventRetentionDays, cancellationToken),
            ["events"] = await DeleteInChunksAsync($"""
                DELETE FROM events e USING (
                    SELECT ev.event_id, ev.pipeline_id, ev.received_at FROM events ev LEFT JOIN stores s ON s.id = ev.store_id
                    WHERE ev.received_at < $1 - make_interval(days => COALESCE(s.event_retention_days, $2))
                    LIMIT {ChunkSize}) d
                WHERE e.event_id = d.event_id AND e.pipeline_id = d.pipeline_id AND e.received_at = d.received_at
                """, now, settings.EventRetentionDays, cancellationToken),
            ["dead_letters"] = await DeleteInChunksAsync($"""
                DELETE FROM dead_letters WHERE id IN (
                    SELECT d.id FROM dead_letters d LEFT JOIN stores s ON s.id = d.store_id
                    WHERE d.created_at < $1 - make_interval(days => COALESCE(s.dead_letter_retention_days, $2))
                    LIMIT {ChunkSize})
                """, now, settings.DeadLetterRetentionDays, cancellationToken),
            ["quarantine"] = await DeleteInChunksAsync($"""
                DELETE FROM quarantine WHERE id IN (
                    SELECT q.id FROM quarantine q LEFT JOIN stores s ON s.id = q.store_id
                    WHERE q.first_seen_at < $1 - make_interval(days => COALESCE(s.dead_letter_retention_days, $2))
                    LIMIT {ChunkSize})
                """, now, settings.DeadLetterRetentionDays, cancellationToken),
        };
        if (swept.Values.Any(v => v > 0))
        {
            logger.LogInformation("Retention removed {Partitions} event partitions, {Events} events, {DeadLetters} dead letters and {Quarantined} quarantined entries",
                swept["event_partitions"], swept["events"], swept["dead_letters"], swept["quarantine"]);
        }
        return swept;
    }

    /// <summary>Drops the day partitions every one of whose rows is past the longest retention any store has.</summary>
    private async Task<long> DropExpiredPartitionsAsync(DateTimeOffset now, int defaultDays, CancellationToken cancellationToken)
    {
        await using var longest = dataSource.CreateCommand("SELECT GREATEST($1, COALESCE(MAX(event_retention_days), 0)) FROM stores");
        longest.Parameters.Add(new() { Value = defaultDays });
        var days = Convert.ToInt32(await longest.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        var oldestKept = DateOnly.FromDateTime((now - TimeSpan.FromDays(days)).UtcDateTime);

        await using var list = dataSource.CreateCommand("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = 'events' AND c.relname ~ '^events_[0-9]{8}$'
            """);
        var expired = new List<string>();
        await using (var reader = await list.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(0);
                if (DateOnly.TryParseExact(name["events_".Length..], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
                    && day < oldestKept)
                {
                    expired.Add(name);
                }
            }
        }
        foreach (var name in expired)
        {
            // The name matched events_<8 digits> above: safe to put in the statement.
            await using var drop = dataSource.CreateCommand($"DROP TABLE IF EXISTS {name}");
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
        return expired.Count;
    }

    private async Task<long> DeleteInChunksAsync(string sql, DateTimeOffset now, int defaultDays, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            await using var command = dataSource.CreateCommand(sql);
            command.Parameters.Add(new() { Value = now });
            command.Parameters.Add(new() { Value = defaultDays });
            var deleted = await command.ExecuteNonQueryAsync(cancellationToken);
            total += deleted;
            if (deleted < ChunkSize)
            {
                return total;
            }
        }
    }
}
