using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery;

/// <summary>
/// Upserts the collected per-minute stats into <c>delivery_stats</c>. Several workers add their counts to the same
/// row; percentiles are merged approximately (p50 averaged, p99 the larger), which is enough for charts.
/// </summary>
public sealed class DeliveryStatsWriter(
    DeliveryStatsCollector collector,
    NpgsqlDataSource dataSource,
    IOptions<WorkerOptions> options,
    ILogger<DeliveryStatsWriter> logger) : BackgroundService
{
    private const string UpsertSql = """
        INSERT INTO delivery_stats (pipeline_id, minute, delivered, failed, retried, dead_lettered, latency_p50ms, latency_p99ms, consent_missing)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM pipelines WHERE id = $1)
        ON CONFLICT (pipeline_id, minute) DO UPDATE SET
            delivered = delivery_stats.delivered + excluded.delivered,
            failed = delivery_stats.failed + excluded.failed,
            retried = delivery_stats.retried + excluded.retried,
            dead_lettered = delivery_stats.dead_lettered + excluded.dead_lettered,
            consent_missing = delivery_stats.consent_missing + excluded.consent_missing,
            latency_p50ms = CASE
                WHEN excluded.latency_p50ms IS NULL THEN delivery_stats.latency_p50ms
                WHEN delivery_stats.latency_p50ms IS NULL THEN excluded.latency_p50ms
                ELSE (delivery_stats.latency_p50ms + excluded.latency_p50ms) / 2 END,
            latency_p99ms = GREATEST(delivery_stats.latency_p99ms, excluded.latency_p99ms)
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(options.Value.StatsFlushInterval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        using var final = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await FlushAsync(final.Token);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Could not write the last delivery stats before stopping");
        }
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var buckets = collector.TakeAll();
        if (buckets.Count == 0)
        {
            return;
        }
        try
        {
            await using var batch = dataSource.CreateBatch();
            foreach (var (pipelineId, minute, bucket) in buckets)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(UpsertSql)
                {
                    Parameters =
                    {
                        new() { Value = pipelineId },
                        new() { Value = minute },
                        new() { Value = bucket.Delivered },
                        new() { Value = bucket.Failed },
                        new() { Value = bucket.Retried },
                        new() { Value = bucket.DeadLettered },
                        new() { Value = (object?)bucket.Percentile(0.5) ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double },
                        new() { Value = (object?)bucket.Percentile(0.99) ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double },
                        new() { Value = bucket.ConsentMissing },
                    },
                });
            }
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning(ex, "Could not write delivery stats; keeping them for the next round");
            collector.Restore(buckets);
        }
    }
}
