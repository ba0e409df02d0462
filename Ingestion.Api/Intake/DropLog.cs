using System.Text.Json;
using Beacon.Core.Catalog;
using Beacon.Core.Queue;
using StackExchange.Redis;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// Makes dropped events visible in Admin.Web: per store, the most recent rejections and running totals in Redis.
/// <list type="bullet">
/// <item><c>beacon:drops:&lt;storeId&gt;</c> (storeId as <c>D</c>-format Guid): a list, newest first, capped at
/// <see cref="IngestionOptions.RecentDropsKept"/>, of JSON <c>{"at":"ISO 8601","source":"beacon","index":0,
/// "event_type":"product_view" (as sent, at most 64 chars),"code":"missing_field","reason":"missing required field 'product_id'"}</c>.</item>
/// <item><c>beacon:drops:&lt;storeId&gt;:counts</c>: a hash of totals, field <c>&lt;event_type&gt;|&lt;code&gt;</c>
/// (event_type is <c>unknown</c> or <c>none</c> for types outside the catalog).</item>
/// <item><c>beacon:drops:&lt;storeId&gt;:ids:&lt;yyyyMMdd&gt;</c>: the day's records of events dropped with a client
/// <c>event_id</c>, by that id, expiring after <see cref="IngestionOptions.DropTraceRetention"/> (the per-event trace).</item>
/// </list>
/// Written fire-and-forget: losing a diagnostic never costs a request its latency or its answer.
/// </summary>
public sealed class DropLog(IConnectionMultiplexer redis, Microsoft.Extensions.Options.IOptions<IngestionOptions> options, ILogger<DropLog> logger)
{
    public static string RecentKey(Guid storeId) => DropLogKeys.Recent(storeId);

    public static string CountsKey(Guid storeId) => DropLogKeys.Counts(storeId);

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
            var at = now.ToString("O");
            var entries = new RedisValue[drops.Count];
            var batch = redis.GetDatabase().CreateBatch();
            var countsKey = CountsKey(storeId);
            var byIdKey = DropLogKeys.ByEventId(storeId, DateOnly.FromDateTime(now.UtcDateTime));
            var traced = false;
            for (var i = 0; i < drops.Count; i++)
            {
                var (rejection, type, eventId) = drops[i];
                var boundedType = IngestionMetrics.BoundedType(type);
                var id = string.IsNullOrEmpty(eventId) ? null : eventId.Length <= 64 ? eventId : eventId[..64];
                entries[i] = JsonSerializer.Serialize(new DropRecord(at, source, rejection.Index, Shorten(type), rejection.Code, rejection.Reason, id),
                    DropLogJsonContext.Default.DropRecord);
                _ = batch.HashIncrementAsync(countsKey, $"{boundedType}|{rejection.Code}", 1, CommandFlags.FireAndForget);
                if (id is not null && _traceRetention > TimeSpan.Zero)
                {
                    _ = batch.HashSetAsync(byIdKey, id, entries[i], flags: CommandFlags.FireAndForget);
                    traced = true;
                }
            }
            if (traced)
            {
                // The day's key outlives its last write by the window (a day's worth of slack, whole days are looked up).
                _ = batch.KeyExpireAsync(byIdKey, _traceRetention + TimeSpan.FromDays(1), CommandFlags.FireAndForget);
            }
            var recentKey = RecentKey(storeId);
            _ = batch.ListLeftPushAsync(recentKey, entries, CommandFlags.FireAndForget);
            _ = batch.ListTrimAsync(recentKey, 0, _kept - 1, CommandFlags.FireAndForget);
            batch.Execute();
        }
        catch (Exception ex) when (RedisFailure.IsTransient(ex, CancellationToken.None))
        {
            logger.LogDebug(ex, "Could not record {Count} dropped events", drops.Count);
        }
    }
}

public sealed record DropRecord(
    [property: System.Text.Json.Serialization.JsonPropertyName("at")] string At,
    [property: System.Text.Json.Serialization.JsonPropertyName("source")] string Source,
    [property: System.Text.Json.Serialization.JsonPropertyName("index")] int Index,
    [property: System.Text.Json.Serialization.JsonPropertyName("event_type")] string EventType,
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] string Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("reason")] string Reason,
    [property: System.Text.Json.Serialization.JsonPropertyName("event_id"),
        System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? EventId = null);

[System.Text.Json.Serialization.JsonSerializable(typeof(DropRecord))]
internal sealed partial class DropLogJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
