using System.Text.Json;
using Beacon.Core.Privacy;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Worker.Routing;

/// <summary>
/// Drops the events a deletion or suppression reaches before they are delivered (<see cref="DeletionRule"/>), and
/// makes them visible where ingestion's own drops are: the store's drop log in Redis (<see cref="DropLogKeys"/>,
/// reason <c>suppressed</c> or <c>deleted</c>), read by Admin.Web's dropped-events page, and a metric.
/// </summary>
public sealed class DeletionDrops(IConnectionMultiplexer redis, WorkerMetrics metrics, ILogger<DeletionDrops> logger)
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
        List<(EnrichedEvent Event, string Reason)>? dropped = null;
        for (var i = 0; i < events.Count; i++)
        {
            if (DeletionRule.FirstDrop(rules, events[i]) is { } reason)
            {
                kept ??= events.Take(i).ToList();
                (dropped ??= []).Add((events[i], reason));
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

    private void Record(Guid storeId, List<(EnrichedEvent Event, string Reason)> dropped)
    {
        foreach (var (_, reason) in dropped)
        {
            metrics.DroppedByDeletion(reason);
        }
        try
        {
            var at = DateTimeOffset.UtcNow.ToString("O");
            var batch = redis.GetDatabase().CreateBatch();
            var records = new RedisValue[dropped.Count];
            for (var i = 0; i < dropped.Count; i++)
            {
                var (envelope, reason) = dropped[i];
                var type = envelope.Event?.EventType ?? "";
                // The identifier itself is not written: the drop log must not keep what was asked to be forgotten.
                records[i] = JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["at"] = at, ["source"] = envelope.Source, ["index"] = 0, ["event_type"] = type, ["code"] = reason,
                    ["reason"] = reason == DeletionRule.SuppressedReason
                        ? "an identifier of the event is suppressed"
                        : "a deletion of an identifier of the event was requested after it was received",
                });
                _ = batch.HashIncrementAsync(DropLogKeys.Counts(storeId), $"{(type.Length is > 0 and <= 64 ? type : "unknown")}|{reason}", 1, CommandFlags.FireAndForget);
            }
            _ = batch.ListLeftPushAsync(DropLogKeys.Recent(storeId), records, CommandFlags.FireAndForget);
            _ = batch.ListTrimAsync(DropLogKeys.Recent(storeId), 0, RecentKept - 1, CommandFlags.FireAndForget);
            batch.Execute();
        }
        catch (Exception ex) when (RedisFailure.IsTransient(ex, CancellationToken.None))
        {
            logger.LogDebug(ex, "Could not record {Count} events dropped by deletions", dropped.Count);
        }
    }
}
