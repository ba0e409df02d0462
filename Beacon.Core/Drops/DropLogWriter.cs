using StackExchange.Redis;

namespace Beacon.Core.Drops;

/// <summary>Records drops in a store's drop log (<see cref="DropLogKeys"/>), for every service that drops events.</summary>
public static class DropLogWriter
{
    /// <summary>
    /// Queues on <paramref name="batch"/>: each record at the head of the store's recent list (which keeps the newest
    /// <paramref name="kept"/>), and one more in its total under <c>&lt;counted type&gt;|&lt;code&gt;</c>.
    /// </summary>
    /// <returns>The records as written, for a caller that stores them elsewhere too.</returns>
    public static string[] Append(IBatch batch, Guid storeId, IReadOnlyList<(DroppedEvent Record, string CountedType)> drops, int kept)
    {
        var written = new string[drops.Count];
        var values = new RedisValue[drops.Count];
        var countsKey = DropLogKeys.Counts(storeId);
        for (var i = 0; i < drops.Count; i++)
        {
            var (record, countedType) = drops[i];
            values[i] = written[i] = record.ToJson();
            _ = batch.HashIncrementAsync(countsKey, $"{countedType}|{record.Code}", 1, CommandFlags.FireAndForget);
        }
        var recentKey = DropLogKeys.Recent(storeId);
        _ = batch.ListLeftPushAsync(recentKey, values, CommandFlags.FireAndForget);
        _ = batch.ListTrimAsync(recentKey, 0, Math.Max(1, kept) - 1, CommandFlags.FireAndForget);
        return written;
    }
}
