using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>A pipeline's per-minute counts over a window, one slot per minute (zeros where nothing happened).</summary>
/// <param name="TotalConsentMissing">Events the pipeline was not given because they lacked a category of its required consent.</param>
public sealed record DeliverySeries(Guid PipelineId, string Name, DateTimeOffset From, int Minutes, long[] Delivered, long[] Failed, long TotalDelivered, long TotalFailed,
    long TotalConsentMissing);

/// <summary>A recent failure: a dead letter (given up) or a parked retry batch (still trying).</summary>
public sealed record RecentFailure(string Kind, Guid PipelineId, string PipelineName, string Subject, int Attempts, int? LastStatus,
    string? LastError, string? ResponseExcerpt, DateTimeOffset At, DateTimeOffset? NextAttemptAt);

/// <summary>What the deliveries page and API show, read from the worker's <c>delivery_stats</c>, retry batches and dead letters.</summary>
public sealed class DeliveryQueries(BeaconDbContext db, TimeProvider time)
{
    public async Task<List<DeliverySeries>> SeriesAsync(Guid storeId, Guid? pipelineId, TimeSpan window, CancellationToken cancellationToken)
    {
        var minutes = (int)window.TotalMinutes;
        var now = time.GetUtcNow();
        var to = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        var from = to.AddMinutes(-(minutes - 1));

        var pipelines = await db.Pipelines.AsNoTracking()
            .Where(p => p.StoreId == storeId && (pipelineId == null || p.Id == pipelineId))
            .OrderBy(p => p.Name).Select(p => new { p.Id, p.Name }).ToListAsync(cancellationToken);
        var ids = pipelines.Select(p => p.Id).ToList();
        var stats = await db.DeliveryStats.AsNoTracking()
            .Where(s => ids.Contains(s.PipelineId) && s.Minute >= from && s.Minute <= to)
            .Select(s => new { s.PipelineId, s.Minute, s.Delivered, s.Failed, s.ConsentMissing })
            .ToListAsync(cancellationToken);

        return pipelines.Select(p =>
        {
            var delivered = new long[minutes];
            var failed = new long[minutes];
            long consentMissing = 0;
            foreach (var s in stats.Where(s => s.PipelineId == p.Id))
            {
                var slot = (int)(s.Minute - from).TotalMinutes;
                if (slot is >= 0 && slot < minutes)
                {
                    delivered[slot] += s.Delivered;
                    failed[slot] += s.Failed;
                    consentMissing += s.ConsentMissing;
                }
            }
            return new DeliverySeries(p.Id, p.Name, from, minutes, delivered, failed, delivered.Sum(), failed.Sum(), consentMissing);
        }).ToList();
    }

    public async Task<List<RecentFailure>> RecentFailuresAsync(Guid storeId, int limit, CancellationToken cancellationToken)
    {
        var names = await db.Pipelines.AsNoTracking().Where(p => p.StoreId == storeId)
            .ToDictionaryAsync(p => p.Id, p => p.Name, cancellationToken);
        var ids = names.Keys.ToList();

        var dead = await db.DeadLetters.AsNoTracking()
            .Where(d => ids.Contains(d.PipelineId)).OrderByDescending(d => d.CreatedAt).Take(limit)
            .Select(d => new { d.PipelineId, d.EventType, d.EventId, d.Attempts, d.LastStatus, d.LastError, d.ResponseExcerpt, d.CreatedAt })
            .ToListAsync(cancellationToken);
        var parked = await db.RetryBatches.AsNoTracking()
            .Where(r => ids.Contains(r.PipelineId) && r.Attempts > 0).OrderByDescending(r => r.FirstFailedAt).Take(limit)
            .Select(r => new { r.PipelineId, r.EventCount, r.Attempts, r.LastStatus, r.LastError, r.FirstFailedAt, r.NextAttemptAt })
            .ToListAsync(cancellationToken);

        return dead.Select(d => new RecentFailure("dead letter", d.PipelineId, names[d.PipelineId], $"{d.EventType} {d.EventId}",
                d.Attempts, d.LastStatus, d.LastError, d.ResponseExcerpt, d.CreatedAt, null))
            .Concat(parked.Select(r => new RecentFailure("retrying", r.PipelineId, names[r.PipelineId], $"{r.EventCount} events",
                r.Attempts, r.LastStatus, r.LastError, null, r.FirstFailedAt, r.NextAttemptAt)))
            .OrderByDescending(f => f.At).Take(limit).ToList();
    }
}
