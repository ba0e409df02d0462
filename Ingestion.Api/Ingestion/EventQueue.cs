using Beacon.Core.Queue;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Ingestion;

/// <summary>
/// Dedups and appends one batch of one store as ONE stream entry (see <see cref="QueueKeys"/>), in one Lua
/// script so the two cannot part: dedup markers are written only after the XADD succeeded, so a failed append
/// never leaves events marked as seen. Concurrent requests share the multiplexer's single connection, whose
/// writer flushes every command queued meanwhile in one socket write: that is the group commit.
/// </summary>
public sealed class EventQueue(IConnectionMultiplexer redis, IOptions<QueueOptions> queueOptions, IOptions<IngestionOptions> options)
{
    // KEYS[1] = stream; KEYS[2..] = dedup keys of the events that carry a client event_id, in order.
    // ARGV[1] = dedup TTL (ms); ARGV[2] = one char per event, '1' when it has a dedup key; ARGV[3..] = envelopes.
    // Returns the 0-based indexes of duplicates (seen earlier, or twice in this batch).
    private const string EnqueueScript = """
        local flags = ARGV[2]
        local fields = {}
        local duplicates = {}
        local fresh = {}
        local seen = {}
        local k = 1
        for i = 1, #flags do
          local payload = ARGV[2 + i]
          if string.sub(flags, i, i) == '1' then
            k = k + 1
            local key = KEYS[k]
            if seen[key] or redis.call('EXISTS', key) == 1 then
              duplicates[#duplicates + 1] = i - 1
            else
              seen[key] = true
              fresh[#fresh + 1] = key
              fields[#fields + 1] = 'e'
              fields[#fields + 1] = payload
            end
          else
            fields[#fields + 1] = 'e'
            fields[#fields + 1] = payload
          end
        end
        if #fields > 0 then
          redis.call('XADD', KEYS[1], '*', unpack(fields))
        end
        for _, key in ipairs(fresh) do
          redis.call('SET', key, '1', 'PX', ARGV[1])
        end
        return duplicates
        """;

    private readonly int _partitions = queueOptions.Value.Partitions;
    private readonly RedisValue _dedupMilliseconds = (long)options.Value.DedupWindow.TotalMilliseconds;

    /// <summary>Appends the envelopes; returns how many were duplicates (not appended again).</summary>
    /// <param name="hasClientId">Per envelope: whether its event_id came from the client (server UUIDv7s need no dedup).</param>
    /// <exception cref="QueueUnavailableException">Redis did not acknowledge; nothing may be reported stored.</exception>
    public async Task<int> EnqueueAsync(Guid storeId, IReadOnlyList<Protos.V1.EnrichedEvent> envelopes, IReadOnlyList<bool> hasClientId)
    {
        var partition = QueueKeys.PartitionOf(storeId, _partitions);
        var dedupCount = 0;
        for (var i = 0; i < hasClientId.Count; i++)
        {
            dedupCount += hasClientId[i] ? 1 : 0;
        }
        var keys = new RedisKey[1 + dedupCount];
        keys[0] = QueueKeys.Stream(partition);
        var values = new RedisValue[2 + envelopes.Count];
        values[0] = _dedupMilliseconds;
        var flags = new char[envelopes.Count];
        for (int i = 0, k = 1; i < envelopes.Count; i++)
        {
            flags[i] = hasClientId[i] ? '1' : '0';
            if (hasClientId[i])
            {
                keys[k++] = QueueKeys.Dedup(partition, storeId, envelopes[i].Event.EventId);
            }
            values[2 + i] = envelopes[i].ToByteArray();
        }
        values[1] = new string(flags);
        try
        {
            var result = await redis.GetDatabase().ScriptEvaluateAsync(EnqueueScript, keys, values);
            return result.Length;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new QueueUnavailableException("The event queue did not acknowledge the batch.", ex);
        }
    }
}
