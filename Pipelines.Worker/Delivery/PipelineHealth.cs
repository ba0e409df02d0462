using System.Collections.Concurrent;
using Beacon.Core.Data;
using Beacon.Core.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Delivery;

/// <summary>
/// Keeps <see cref="Pipeline.FailingSince"/> up to date and disables a pipeline that has failed without a single
/// success for <see cref="WorkerOptions.DisableAfterFailingFor"/> (5 days). Postgres holds the state, never this
/// process: Admin clears it when re-enabling a pipeline and other workers change it too, so a cached copy would
/// go stale and stop the auto-disable from ever matching.
/// </summary>
public sealed class PipelineHealth(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<PipelineHealth> logger)
{
    // A success clears failing_since at most this often per pipeline, unless this worker saw a failure since.
    private static readonly TimeSpan HealthyRecheck = TimeSpan.FromMinutes(1);

    // Per pipeline: when this worker last made sure failing_since is null; absent after a failure seen here.
    private readonly ConcurrentDictionary<Guid, long> _clearedAt = new();

    public async Task SucceededAsync(Pipeline pipeline, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (_clearedAt.TryGetValue(pipeline.Id, out var cleared) && now - cleared < HealthyRecheck.TotalMilliseconds)
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        await db.Pipelines.Where(p => p.Id == pipeline.Id && p.FailingSince != null)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.FailingSince, (DateTimeOffset?)null), cancellationToken);
        _clearedAt[pipeline.Id] = now;
    }

    public async Task FailedAsync(Pipeline pipeline, CancellationToken cancellationToken)
    {
        _clearedAt.TryRemove(pipeline.Id, out _);
        var now = time.GetUtcNow();
        var threshold = now - options.Value.DisableAfterFailingFor;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var since = await db.Pipelines.Where(p => p.Id == pipeline.Id).Select(p => p.FailingSince).FirstOrDefaultAsync(cancellationToken);
        if (since is null)
        {
            // Only the first failure after a success (or a re-enable) starts the clock; a concurrent one keeps it.
            await db.Pipelines.Where(p => p.Id == pipeline.Id && p.FailingSince == null)
                .ExecuteUpdateAsync(set => set.SetProperty(p => p.FailingSince, now), cancellationToken);
            return;
        }
        if (since > threshold)
        {
            return;
        }
        // The condition is checked again in the UPDATE: another worker may have seen a success in the meantime.
        var reason = $"Disabled automatically: every delivery failed since {since:u}.";
        var disabled = await db.Pipelines
            .Where(p => p.Id == pipeline.Id && p.Enabled && p.FailingSince != null && p.FailingSince <= threshold)
            .ExecuteUpdateAsync(set => set
                .SetProperty(p => p.Enabled, false)
                .SetProperty(p => p.DisabledReason, reason)
                .SetProperty(p => p.UpdatedAt, now), cancellationToken);
        if (disabled > 0)
        {
            logger.LogWarning("Pipeline {PipelineId} disabled: failing since {FailingSince}", pipeline.Id, since);
            await ConfigChanges.PublishAsync(redis, new ConfigChange.Store(pipeline.StoreId));
        }
    }
}
