using Beacon.Core.Drops;
using Beacon.Core.Hosting;
using Beacon.Core.Privacy;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Worker.Routing;

/// <summary>
/// Drops the events a deletion or suppression reaches before they are delivered or kept anywhere (<see cref="DeletionRule"/>),
/// and makes them visible where ingestion's own drops are: the store's drop log in Redis (<see cref="DropLogKeys"/>,
/// reason <c>suppressed</c> or <c>deleted</c>), read by Admin.Web's dropped-events page, and a metric. A deleted store's
/// events count in the metric only: its drop log went with it.
/// </summary>
public sealed class DeletionDrops(PipelineCache pipelines, IConnectionMultiplexer redis, WorkerMetrics metrics, ILogger<DeletionDrops> logger)
{
    // As many as ingestion keeps by default (Ingestion:RecentDropsKept), in the same list.
    private const int RecentKept = 100;

    /// <summary>The events no rule drops; the others are counted and logged.</summary>
    public IReadOnlyList<EnrichedEvent> Filter(Guid storeId, IReadOnlyList<DeletionRule> rules, IReadOnlyList<EnrichedEvent> events)
    {
        if (rules.Count == 0)
        {
            return events;
        }
        List<EnrichedEvent>? kept = null;
        List<Dropped>? dropped = null;
        for (var i = 0; i < events.Count; i++)
        {
            if (DeletionRule.FirstDrop(rules, events[i]) is { } reason)
            {
                kept ??= events.Take(i).ToList();
                (dropped ??= []).Add(new Dropped(events[i].Event?.EventType ?? "", events[i].Source, reason));
            }
            else
            {
                kept?.Add(events[i]);
            }
        }
        if (dropped is null)
        {
            return events;
        }
        Record(storeId, dropped);
        return kept!;
    }

    /// <summary>
    /// <see cref="Filter"/> with the store's rules as this worker knows them now: events routed before a deletion
    /// became known are checked again as they are written (a lane's delivery, a parked retry, a dead letter), so none
    /// is kept after the deletion's sweep. One event may so count once per pipeline it was routed to.
    /// </summary>
    public IReadOnlyList<EnrichedEvent> FilterAsWritten(Guid storeId, IReadOnlyList<EnrichedEvent> events) =>
        Filter(storeId, pipelines.KnownDeletions(storeId), events);

    /// <summary>Counts an entry that could not be read and that a deletion reaches as a whole (it is not quarantined).</summary>
    public void RecordUnreadable(Guid storeId, string reason) => Record(storeId, [new Dropped("", "", reason)]);

    private sealed record Dropped(string EventType, string Source, string Reason);

    private void Record(Guid storeId, List<Dropped> dropped)
    {
        foreach (var drop in dropped)
        {
            metrics.DroppedByDeletion(drop.Reason);
        }
        var logged = dropped.Where(d => d.Reason != DeletionRule.StoreDeletedReason).ToList();
        if (logged.Count == 0)
        {
            return;
        }
        try
        {
            var now = DateTimeOffset.UtcNow;
            // The identifier itself is not written: the drop log must not keep what was asked to be forgotten.
            var records = logged.Select(d => (new DroppedEvent(now, d.Source, 0, d.EventType, d.Reason, d.Reason == DeletionRule.SuppressedReason
                    ? "an identifier of the event is suppressed"
                    : "a deletion of an identifier of the event was requested after it was received"),
                d.EventType.Length is > 0 and <= 64 ? d.EventType : "unknown")).ToList();
            var batch = redis.GetDatabase().CreateBatch();
            DropLogWriter.Append(batch, storeId, records, RecentKept);
            batch.Execute();
        }
        catch (Exception ex) when (RedisFailure.IsTransient(ex, CancellationToken.None))
        {
            logger.LogDebug(ex, "Could not record {Count} events dropped by deletions", logged.Count);
        }
    }
}
