using Beacon.Core.Catalog;
using Beacon.Core.Drops;
using Beacon.Core.Hosting;
using StackExchange.Redis;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// Makes dropped events visible in Admin.Web: each rejection goes to the store's drop log (<see cref="DropLogWriter"/>,
/// capped at <see cref="IngestionOptions.RecentDropsKept"/>), and one dropped with a client <c>event_id</c> also to the
/// day's records by that id (<see cref="DropLogKeys.ByEventId"/>, the per-event trace), which expire after
/// <see cref="IngestionOptions.DropTraceRetention"/>. Written fire-and-forget: losing a diagnostic never costs a
/// request its latency or its answer.
/// </summary>
public sealed class DropLog(IConnectionMultiplexer redis, Microsoft.Extensions.Options.IOptions<IngestionOptions> options, ILogger<DropLog> logger)
{
    private readonly int _kept = Math.Max(1, options.Value.RecentDropsKept);
    private readonly TimeSpan _traceRetention = options.Value.DropTraceRetention;

    private static string Shorten(string? type) => type is null ? "" : type.Length <= 64 ? type : type[..64];

    public void Record(Guid storeId, string source, IReadOnlyList<(EventRejection Rejection, string? EventType, string? EventId)> drops)
    {
        if (drops.Count == 0)
        {
            return;
        }
        try
        {
            var now = DateTimeOffset.UtcNow;
            var records = new (DroppedEvent Record, string CountedType)[drops.Count];
            for (var i = 0; i < drops.Count; i++)
            {
                var (rejection, type, eventId) = drops[i];
                var id = string.IsNullOrEmpty(eventId) ? null : eventId.Length <= 64 ? eventId : eventId[..64];
                records[i] = (new DroppedEvent(now, source, rejection.Index, Shorten(type), rejection.Code, rejection.Reason, id),
                    IngestionMetrics.BoundedType(type));
            }
            var batch = redis.GetDatabase().CreateBatch();
            var written = DropLogWriter.Append(batch, storeId, records, _kept);
            if (_traceRetention > TimeSpan.Zero && records.Any(r => r.Record.EventId is not null))
            {
                var byIdKey = DropLogKeys.ByEventId(storeId, DateOnly.FromDateTime(now.UtcDateTime));
                for (var i = 0; i < records.Length; i++)
                {
                    if (records[i].Record.EventId is { } id)
                    {
                        _ = batch.HashSetAsync(byIdKey, id, written[i], flags: CommandFlags.FireAndForget);
                    }
                }
                // The day's key outlives its last write by the window (a day's worth of slack, whole days are looked up).
                _ = batch.KeyExpireAsync(byIdKey, _traceRetention + TimeSpan.FromDays(1), CommandFlags.FireAndForget);
            }
            batch.Execute();
        }
        catch (Exception ex) when (RedisFailure.IsTransient(ex, CancellationToken.None))
        {
            logger.LogDebug(ex, "Could not record {Count} dropped events", drops.Count);
        }
    }
}
