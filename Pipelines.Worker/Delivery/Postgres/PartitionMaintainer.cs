using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery.Postgres;

/// <summary>Creates the <c>events</c> partitions of today and the next days, at start and every hour.</summary>
public sealed class PartitionMaintainer(
    EventsWriter writer, TimeProvider time, IOptions<WorkerOptions> options, ILogger<PartitionMaintainer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            do
            {
                var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
                try
                {
                    await writer.EnsurePartitionsAsync(
                        Enumerable.Range(0, options.Value.PartitionDaysAhead + 1).Select(today.AddDays), stoppingToken);
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
                {
                    // Npgsql reports a connection it could not get in time as a bare TimeoutException: the host must not stop for it.
                    logger.LogWarning(ex, "Could not create events partitions; trying again later");
                }
            }
            while (await Delay(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static async Task<bool> Delay(CancellationToken stoppingToken)
    {
        await Task.Delay(TimeSpan.FromHours(1), stoppingToken);
        return true;
    }
}
