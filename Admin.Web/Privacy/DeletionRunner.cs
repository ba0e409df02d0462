using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Admin.Privacy;

/// <summary>
/// Runs requested deletions one at a time, oldest first, in the background of every Admin.Web instance, each once
/// <see cref="AdminOptions.DeletionSettleDelay"/> has passed since it was requested: a deletion is
/// claimed with <c>FOR UPDATE SKIP LOCKED</c>, so instances share the work, and one whose instance died while running it
/// is taken up again after <see cref="AdminOptions.DeletionStaleAfter"/> (every step is idempotent). Between deletions it
/// sends again the <c>privacy.deletion</c> notices that are due (<see cref="DeletionNotices"/>).
/// </summary>
public sealed class DeletionRunner(IServiceScopeFactory scopes, IOptions<AdminOptions> options, ILogger<DeletionRunner> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await RunNextAsync(stoppingToken))
                {
                }
                await using var scope = scopes.CreateAsyncScope();
                var notices = scope.ServiceProvider.GetRequiredService<DeletionNotices>();
                while (await notices.RetryDueAsync(stoppingToken))
                {
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or InvalidOperationException or TimeoutException
                or StackExchange.Redis.RedisException)
            {
                logger.LogWarning(ex, "Could not look for or record requested deletions or their notices");
            }
            try
            {
                await Task.Delay(options.Value.DeletionPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Claims and runs one deletion; false when none was waiting.</summary>
    private async Task<bool> RunNextAsync(CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var now = DateTimeOffset.UtcNow;
        var (settledBefore, staleBefore) = (now - options.Value.DeletionSettleDelay, now - options.Value.DeletionStaleAfter);
        var claimed = await db.Database.SqlQuery<Guid>($"""
            UPDATE data_deletions SET status = {DeletionStatuses.Running}, started_at = now(), attempts = attempts + 1
            WHERE id = (
                SELECT id FROM data_deletions
                WHERE (status = {DeletionStatuses.Pending} AND requested_at <= {settledBefore})
                    OR (status = {DeletionStatuses.Running} AND started_at < {staleBefore})
                ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id AS "Value"
            """).ToListAsync(stoppingToken);
        if (claimed is not [var id])
        {
            return false;
        }
        var request = await db.DataDeletions.AsNoTracking().SingleAsync(d => d.Id == id, stoppingToken);
        var sweeper = scope.ServiceProvider.GetRequiredService<DeletionSweeper>();
        Dictionary<string, long> deleted = [];
        string? error = null;
        try
        {
            deleted = await sweeper.RunAsync(request, stoppingToken);
            logger.LogInformation("Deletion {DeletionId} of store {StoreId} completed: {Deleted}", request.Id, request.StoreId,
                string.Join(", ", deleted.Select(p => $"{p.Key} {p.Value}")));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever went wrong is the deletion's to report ("failed" with the reason), and the runner goes on with
            // the next one. Every step can run again, so a new request for the same identifier finishes the work.
            error = ex.Message;
            logger.LogError(ex, "Deletion {DeletionId} of store {StoreId} failed", request.Id, request.StoreId);
        }
        // The sweeper's steps share this scope's context and clear its tracker: the row is read again to record the end.
        db.ChangeTracker.Clear();
        var deletion = await db.DataDeletions.SingleAsync(d => d.Id == id, CancellationToken.None);
        deletion.Deleted = deleted;
        deletion.Status = error is null ? DeletionStatuses.Completed : DeletionStatuses.Failed;
        deletion.Error = error;
        deletion.CompletedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(CancellationToken.None);
        await scope.ServiceProvider.GetRequiredService<ChangeNotifier>().PagesChangedAsync(deletion.StoreId, CancellationToken.None);
        return true;
    }
}
