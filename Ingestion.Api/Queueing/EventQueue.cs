using System.Text;
using Beacon.Core.Queue;
using Beacon.Ingestion.Intake;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// Dedups and appends batches to the stream: each request's batch is one field of an entry, and the requests of one
/// store that share a call share its entry (see <see cref="QueueKeys"/>; the worker reads every field of an entry in
/// order). An entry holds one store's events only. Under load a 1-event request then costs Redis and the worker a
/// fraction of an entry instead of a whole one.
/// <para>
/// Group commit (<see cref="GroupCommit{T}"/>, at most <see cref="IngestionOptions.EnqueueConcurrency"/> calls in
/// flight), per partition: the batches whose events carry client ids as one Lua script call (dedup + XADD), every
/// other batch as a plain XADD in the same pipeline.
/// </para>
/// <para>
/// Dedup and XADD are one script, so they cannot part: dedup marks are written only after every XADD of the
/// call succeeded, so a failed append never leaves events marked as seen. A request is answered only after Redis
/// acknowledged the call that carried it. An event id is remembered per store for at least
/// <see cref="IngestionOptions.DedupWindow"/> and at most twice that (see the script).
/// </para>
/// </summary>
public sealed class EventQueue : IAsyncDisposable
{
    // KEYS[1] = stream; KEYS[1+s] = the dedup key prefix of the s-th store of this call (QueueKeys.DedupPrefix).
    // ARGV[1] = dedup window W (ms); ARGV[2] = number of batches B; for each batch b (from 0) three arguments:
    // ARGV[3+3b] = its store number s; ARGV[4+3b] = one char per event, '1' when it carries a client event_id ('' when
    // none does); ARGV[5+3b] = where each event's record ends in the batch's bytes, comma-separated ('' when no event
    // carries an id). Then the client event ids of all batches in order; then each batch's bytes: its events encoded
    // as an EnrichedEventBatch, which is what the entry's one field holds (QueueKeys.BatchField): the events' records,
    // then the record of the envelope fields they share, kept whenever any event is.
    // Returns, per batch, how many of its events were duplicates (seen earlier, or twice in this call); a batch
    // with duplicates is cut down to its other records before it is appended.
    //
    // Dedup state: per store, one hash per time bucket of length W (Redis' clock, so every instance agrees), its
    // fields the event ids. An id is looked up in the current and the previous bucket, so it is remembered for at
    // least W and at most 2W; a bucket expires as a whole at the end of the next one. Per call that is one HMGET
    // per store and bucket and one HSET per store, not a key with its own TTL per event.
    private const string EnqueueScript = $$"""
        local window = tonumber(ARGV[1])
        local batches = tonumber(ARGV[2])
        local ids = {}
        local p = 2 + 3 * batches
        for b = 0, batches - 1 do
          local flags = ARGV[4 + 3 * b]
          if #flags > 0 then
            local s = tonumber(ARGV[3 + 3 * b])
            local list = ids[s]
            if not list then
              list = {}
              ids[s] = list
            end
            for i = 1, #flags do
              if string.byte(flags, i) == 49 then
                p = p + 1
                list[#list + 1] = ARGV[p]
              end
            end
          end
        end
        local records = p
        local seen = {}
        local current = {}
        local bucket = 0
        if next(ids) then
          local now = redis.call('TIME')
          bucket = math.floor((tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) / window)
          for s, list in pairs(ids) do
            local known = {}
            current[s] = KEYS[1 + s] .. ':' .. string.format('%d', bucket)
            local previous = KEYS[1 + s] .. ':' .. string.format('%d', bucket - 1)
            for _, key in ipairs({current[s], previous}) do
              for from = 1, #list, 1000 do
                local upto = math.min(from + 999, #list)
                local found = redis.call('HMGET', key, unpack(list, from, upto))
                for j = 1, #found do
                  if found[j] then
                    known[list[from + j - 1]] = true
                  end
                end
              end
            end
            seen[s] = known
          end
        end
        local fresh = {}
        local duplicates = {}
        local entries = {}
        local order = {}
        local k = 2 + 3 * batches
        for b = 0, batches - 1 do
          local s = tonumber(ARGV[3 + 3 * b])
          local flags = ARGV[4 + 3 * b]
          local dropped = nil
          local dup = 0
          for i = 1, #flags do
            if string.byte(flags, i) == 49 then
              k = k + 1
              local id = ARGV[k]
              if seen[s][id] then
                dup = dup + 1
                dropped = dropped or {}
                dropped[i] = true
              else
                seen[s][id] = true
                local marks = fresh[s]
                if not marks then
                  marks = {}
                  fresh[s] = marks
                end
                marks[#marks + 1] = id
                marks[#marks + 1] = '1'
              end
            end
          end
          duplicates[b + 1] = dup
          local batch = ARGV[records + b + 1]
          if dropped then
            local parts = {}
            local start = 1
            local i = 0
            for stop in string.gmatch(ARGV[5 + 3 * b], '%d+') do
              i = i + 1
              stop = tonumber(stop)
              if not dropped[i] then
                parts[#parts + 1] = string.sub(batch, start, stop)
              end
              start = stop + 1
            end
            if #parts > 0 then
              parts[#parts + 1] = string.sub(batch, start)
            end
            batch = table.concat(parts)
          end
          if #batch > 0 then
            local fields = entries[s]
            if not fields then
              fields = {}
              entries[s] = fields
              order[#order + 1] = s
            end
            fields[#fields + 1] = '{{QueueKeys.BatchField}}'
            fields[#fields + 1] = batch
          end
        end
        for _, s in ipairs(order) do
          redis.call('XADD', KEYS[1], '*', unpack(entries[s]))
        end
        local expires = string.format('%d', (bucket + 2) * window)
        for s, marks in pairs(fresh) do
          for from = 1, #marks, 2000 do
            redis.call('HSET', current[s], unpack(marks, from, math.min(from + 1999, #marks)))
          end
          redis.call('PEXPIREAT', current[s], expires)
        end
        return duplicates
        """;

    // Deletes what a rehearsal left: its stream and the dedup hashes of its store (the current and previous bucket,
    // named as the enqueue script names them). KEYS[1] = the stream, KEYS[2] = the store's dedup prefix; ARGV[1] = W.
    private const string ForgetScript = """
        local now = redis.call('TIME')
        local bucket = math.floor((tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) / tonumber(ARGV[1]))
        return redis.call('DEL', KEYS[1], KEYS[2] .. ':' .. string.format('%d', bucket), KEYS[2] .. ':' .. string.format('%d', bucket - 1))
        """;

    // The warm-up's keys: a hash tag of their own, a stream no worker reads.
    private const int RehearsalPartition = -1;
    private const string RehearsalPrefix = "beacon:{rehearsal}:";

    /// <summary>The stream rehearsals append to (<see cref="RehearseAsync"/>); nothing reads it, it is deleted after.</summary>
    public static readonly RedisKey RehearsalStream = RehearsalPrefix + "events";

    private sealed class Pending(Guid storeId, EncodedBatch batch)
        : TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public Guid StoreId { get; } = storeId;
        public EncodedBatch Batch { get; } = batch;
    }

    private readonly IConnectionMultiplexer _redis;
    private readonly ReplicaAcks _replicaAcks;
    private readonly int _partitions;
    private readonly RedisValue _dedupMilliseconds;
    private readonly GroupCommit<Pending> _group;

    public EventQueue(IConnectionMultiplexer redis, ReplicaAcks replicaAcks, IOptions<QueueOptions> queueOptions, IOptions<IngestionOptions> options)
    {
        _redis = redis;
        _replicaAcks = replicaAcks;
        _partitions = queueOptions.Value.Partitions;
        _dedupMilliseconds = (long)options.Value.DedupWindow.TotalMilliseconds;
        _group = new GroupCommit<Pending>(SendGroupAsync, options.Value.EnqueueConcurrency,
            p => p.Batch.Count, Math.Max(options.Value.MaxEventsPerBatch, options.Value.MaxEventsPerEnqueueCall));
    }

    /// <summary>Appends the batch as one stream entry; returns how many of its events were duplicates (not appended again).</summary>
    /// <exception cref="QueueUnavailableException">Redis did not acknowledge; nothing may be reported stored.</exception>
    public Task<int> EnqueueAsync(Guid storeId, EncodedBatch batch)
    {
        var pending = new Pending(storeId, batch);
        if (!_group.TryAdd(pending))
        {
            pending.SetException(new QueueUnavailableException("The event queue is shutting down."));
        }
        return pending.Task;
    }

    /// <summary>
    /// What <see cref="EnqueueAsync"/> does, to <see cref="RehearsalStream"/> (and dedup hashes of its own) instead of the
    /// queue: the start-up warm-up runs the real Redis calls (script and XADD) without a worker ever seeing its events.
    /// </summary>
    public async Task<int> RehearseAsync(Guid storeId, EncodedBatch batch)
    {
        var pending = new Pending(storeId, batch);
        // Sent at once, not through the group commit: a rehearsal must never share a call with real batches.
        await SendAsync(RehearsalPartition, [pending]);
        return await pending.Task;
    }

    /// <summary>Deletes what rehearsals of <paramref name="storeId"/> appended and marked as seen.</summary>
    public Task ForgetRehearsalAsync(Guid storeId) =>
        _redis.GetDatabase().ScriptEvaluateAsync(ForgetScript, [RehearsalStream, DedupPrefixOf(RehearsalPartition, storeId)], [_dedupMilliseconds]);

    private static RedisKey StreamOf(int partition) =>
        partition == RehearsalPartition ? RehearsalStream : QueueKeys.Stream(partition);

    private static RedisKey DedupPrefixOf(int partition, Guid storeId) =>
        partition == RehearsalPartition ? $"{RehearsalPrefix}dedup:{storeId:N}" : QueueKeys.DedupPrefix(partition, storeId);

    private Task SendGroupAsync(Pending[] group) =>
        _partitions <= 1
            ? SendAsync(0, group)
            // Each partition is its own call (its keys live on one cluster shard); they share the group's slot.
            : Task.WhenAll(group.GroupBy(p => QueueKeys.PartitionOf(p.StoreId, _partitions)).Select(p => SendAsync(p.Key, [.. p])));

    private async Task SendAsync(int partition, Pending[] group)
    {
        // A batch without client ids has nothing to dedup: it is a plain XADD. Passing its bytes through the
        // script would make Redis' Lua intern them as a string, hashing every byte (~40% of Redis' CPU per event).
        var deduped = group.Length == 1 ? (group[0].Batch.HasClientIds ? group : []) : Array.FindAll(group, p => p.Batch.HasClientIds);
        if (deduped.Length == group.Length)
        {
            await DedupAndAppendAsync(partition, deduped);
            return;
        }
        var calls = new List<Task>(2);
        var plain = deduped.Length == 0 ? group : Array.FindAll(group, p => !p.Batch.HasClientIds);
        var stream = StreamOf(partition);
        calls.Add(GroupCommit.SendByAsync(plain, p => p.StoreId, batches => AppendAsync(stream, batches)));
        if (deduped.Length > 0)
        {
            calls.Add(DedupAndAppendAsync(partition, deduped));
        }
        await Task.WhenAll(calls);
    }

    /// <summary>Appends the batches of one store as one entry, a field each.</summary>
    private async Task AppendAsync(RedisKey stream, Pending[] batches)
    {
        try
        {
            var fields = new NameValueEntry[batches.Length];
            for (var i = 0; i < batches.Length; i++)
            {
                fields[i] = new NameValueEntry(QueueKeys.BatchField, batches[i].Batch.Bytes);
            }
            await _redis.GetDatabase().StreamAddAsync(stream, fields);
            foreach (var pending in batches)
            {
                pending.Batch.Release();
            }
            if (_replicaAcks.Enabled)
            {
                await _replicaAcks.ConfirmAsync(stream);
            }
            foreach (var pending in batches)
            {
                pending.TrySetResult(0);
            }
        }
        catch (Exception ex)
        {
            var error = ex as QueueUnavailableException ?? new QueueUnavailableException("The event queue did not acknowledge the batch.", ex);
            foreach (var pending in batches)
            {
                pending.TrySetException(error);
            }
        }
    }

    private async Task DedupAndAppendAsync(int partition, Pending[] group)
    {
        try
        {
            var keys = new List<RedisKey>(2) { StreamOf(partition) };
            var stores = new Dictionary<Guid, int>(1);
            var values = new List<RedisValue>(2 + group.Length * 4) { _dedupMilliseconds, group.Length };
            var ids = new List<RedisValue>();
            foreach (var pending in group)
            {
                if (!stores.TryGetValue(pending.StoreId, out var store))
                {
                    store = stores.Count + 1;
                    stores.Add(pending.StoreId, store);
                    keys.Add(DedupPrefixOf(partition, pending.StoreId));
                }
                var batch = pending.Batch;
                var flags = new char[batch.Count];
                var ends = new StringBuilder(batch.Count * 5);
                for (var i = 0; i < batch.Count; i++)
                {
                    flags[i] = batch.ClientIds[i] is null ? '0' : '1';
                    ends.Append(batch.RecordEnds[i]).Append(',');
                    if (batch.ClientIds[i] is { } id)
                    {
                        ids.Add(id);
                    }
                }
                values.Add(store);
                values.Add(new string(flags));
                values.Add(ends.ToString());
            }
            values.AddRange(ids);
            foreach (var pending in group)
            {
                values.Add(pending.Batch.Bytes);
            }
            var result = await _redis.GetDatabase().ScriptEvaluateAsync(EnqueueScript, [.. keys], [.. values]);
            // Redis answered, so the command was written out: the buffers are free again. (After a failure they are
            // left to the GC: a timed-out command may still sit in the client's backlog and be written later.)
            foreach (var pending in group)
            {
                pending.Batch.Release();
            }
            if (_replicaAcks.Enabled)
            {
                await _replicaAcks.ConfirmAsync(keys[0]);
            }
            var duplicates = (long[])result!;
            for (var i = 0; i < group.Length; i++)
            {
                group[i].TrySetResult((int)duplicates[i]);
            }
        }
        // Whatever went wrong, every waiting request must get its answer: none may hang or be told "stored".
        catch (Exception ex)
        {
            var error = ex as QueueUnavailableException ?? new QueueUnavailableException("The event queue did not acknowledge the batch.", ex);
            foreach (var pending in group)
            {
                pending.TrySetException(error);
            }
        }
    }

    /// <summary>Sends what is queued and waits (a few seconds at most) for the calls in flight, before Redis goes away.</summary>
    public ValueTask DisposeAsync() => _group.DisposeAsync();
}
