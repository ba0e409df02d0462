using System.Collections.Concurrent;
using Beacon.Core.Data;
using Beacon.Core.Queue;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Worker.Delivery;

/// <summary>
/// Keeps <see cref="Pipeline.FailingSince"/> up to date and disables a pipeline that has failed without a single
/// success for <see cref="WorkerOptions.DisableAfterFailingFor"/> (5 days). Postgres is written only when the
/// state changes, not on every batch.
/// </summary>
public sealed class PipelineHealth(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<PipelineHealth> logger)
{
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _failingSince = new();
    private readonly ConcurrentDictionary<Guid, byte> _knownHealthy = new();

    public async Task SucceededAsync(Pipeline pipeline, CancellationToken cancellationToken)
    {
        var wasFailing = _failingSince.TryRemove(pipeline.Id, out _);
        if (!wasFailing && (pipeline.FailingSince is null || _knownHealthy.ContainsKey(pipeline.Id)))
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        await db.Pipelines.Where(p => p.Id == pipeline.Id && p.FailingSince != null)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.FailingSince, (DateTimeOffset?)null), cancellationToken);
        _knownHealthy[pipeline.Id] = 0;
    }

    public async Task FailedAsync(Pipeline pipeline, CancellationToken cancellationToken)
    {
        _knownHealthy.TryRemove(pipeline.Id, out _);
        var now = time.GetUtcNow();
        var threshold = now - options.Value.DisableAfterFailingFor;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        if (!_failingSince.TryGetValue(pipeline.Id, out var since))
        {
            await db.Pipelines.Where(p => p.Id == pipeline.Id && p.FailingSince == null)
                .ExecuteUpdateAsync(set => set.SetProperty(p => p.FailingSince, now), cancellationToken);
            since = await db.Pipelines.Where(p => p.Id == pipeline.Id).Select(p => p.FailingSince).FirstOrDefaultAsync(cancellationToken) ?? now;
            _failingSince[pipeline.Id] = since;
        }
        if (since > threshold)
        {
            return;
        }
        // Postgres decides: another worker may have seen a success in the meantime.
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
            await ConfigChanges.PublishAsync(redis, ConfigChanges.StoreChanged(pipeline.StoreId));
        }
    }
}
