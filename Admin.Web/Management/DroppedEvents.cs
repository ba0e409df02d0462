using System.Text.Json;
using Beacon.Core.Drops;
using StackExchange.Redis;

namespace Beacon.Admin.Management;

/// <summary>Running total of drops of one event type for one reason code.</summary>
public sealed record DropCount(string EventType, string Code, long Count);

public sealed record DroppedEventsReport(IReadOnlyList<DropCount> Counts, IReadOnlyList<DroppedEvent> Recent);

/// <summary>
/// Reads a store's drop log (<see cref="DropLogKeys"/>): the recent records, newest first, and the totals by
/// <c>&lt;event_type&gt;|&lt;code&gt;</c>. Invalid events are dropped at the door; this is where a merchant sees why.
/// </summary>
public sealed class DroppedEvents(IConnectionMultiplexer redis, ILogger<DroppedEvents> logger)
{
    public async Task<DroppedEventsReport> ReadAsync(Guid storeId, int limit)
    {
        var db = redis.GetDatabase();
        var counts = await db.HashGetAllAsync(DropLogKeys.Counts(storeId));
        var recent = await db.ListRangeAsync(DropLogKeys.Recent(storeId), 0, Math.Clamp(limit, 1, 1000) - 1);

        return new DroppedEventsReport(
            counts.Select(Count).OrderByDescending(c => c.Count).ThenBy(c => c.EventType, StringComparer.Ordinal).ToList(),
            recent.Select(Parse).OfType<DroppedEvent>().ToList());
    }

    /// <summary>
    /// The drop of an event by its client <c>event_id</c> within the last <paramref name="window"/> (whole UTC days),
    /// the newest if it was dropped more than once; null when none is on record.
    /// </summary>
    public async Task<DroppedEvent?> FindAsync(Guid storeId, string eventId, TimeSpan window, DateTimeOffset now)
    {
        var db = redis.GetDatabase();
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        for (var day = today; day >= DateOnly.FromDateTime((now - window).UtcDateTime); day = day.AddDays(-1))
        {
            var record = await db.HashGetAsync(DropLogKeys.ByEventId(storeId, day), eventId);
            if (record.HasValue && Parse(record) is { } dropped)
            {
                return dropped;
            }
        }
        return null;
    }

    private static DropCount Count(HashEntry entry)
    {
        var name = entry.Name.ToString();
        var bar = name.IndexOf('|', StringComparison.Ordinal);
        return bar < 0
            ? new DropCount(name, "", (long)entry.Value)
            : new DropCount(name[..bar], name[(bar + 1)..], (long)entry.Value);
    }

    private DroppedEvent? Parse(RedisValue value)
    {
        try
        {
            return DroppedEvent.FromJson(value.ToString());
        }
        catch (JsonException ex)
        {
            // One unreadable record must not hide the others.
            logger.LogDebug(ex, "Skipped an unreadable drop record");
            return null;
        }
    }
}
