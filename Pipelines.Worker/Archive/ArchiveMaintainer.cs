using Beacon.Core.Data;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Archive;

/// <summary>
/// Keeps the archive and the attempt log within their retention: creates the partitions of today and the next days
/// and drops the days past <see cref="WorkerOptions.ArchiveRetention"/> / <see cref="WorkerOptions.AttemptLogRetention"/>,
/// at start and every hour.
/// </summary>
public sealed class ArchiveMaintainer(
    DayPartitioner partitioner, TimeProvider time, IOptions<WorkerOptions> options, ILogger<ArchiveMaintainer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await MaintainAsync(stoppingToken);
                await Task.Delay(TimeSpan.FromHours(1), time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public async Task MaintainAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        foreach (var (table, retention) in new[]
        {
            (EventArchiveTable.Name, settings.ArchiveRetention),
            (DeliveryAttemptsTable.Name, settings.AttemptLogRetention),
        })
        {
            if (retention <= TimeSpan.Zero)
            {
                continue;
            }
            var now = time.GetUtcNow();
            var today = DateOnly.FromDateTime(now.UtcDateTime);
            try
            {
                await partitioner.EnsureAsync(table, Enumerable.Range(0, settings.PartitionDaysAhead + 1).Select(today.AddDays), cancellationToken);
                var dropped = await partitioner.DropOlderThanAsync(table, now - retention, cancellationToken);
                if (dropped.Count > 0)
                {
                    logger.LogInformation("Dropped {Count} partitions of {Table} older than {Retention}: {Partitions}",
                        dropped.Count, table, retention, string.Join(", ", dropped));
                }
            }
            catch (NpgsqlException ex)
            {
                logger.LogWarning(ex, "Could not maintain the partitions of {Table}; trying again later", table);
            }
        }
    }
}
