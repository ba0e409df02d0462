using System.Collections.Concurrent;
using Beacon.Core.Privacy;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Worker.Archive;
using Beacon.Worker.Delivery;
using Beacon.Worker.Routing;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Routes a stream entry to the archive and to the lanes of the pipelines that want its events (store, enabled,
/// event-type filter, deletion rules, consent) and acks it once the archive has its events and every pipeline has delivered
/// or parked its part. An entry it cannot read is acked only once it is in the quarantine (<see cref="EntryQuarantine"/>),
/// or once it is known that a deletion of its store reaches its bytes (then it is dropped).
/// </summary>
public sealed class EntryRouter(
    PipelineCache pipelines,
    PipelineLanes lanes,
    DeliveryOutcomes outcomes,
    EntryQuarantine quarantine,
    DeletionDrops deletionDrops,
    DeliveryStatsCollector stats,
    WorkerMetrics metrics,
    ArchiveWriter archive,
    StreamAcker acker,
    IOptions<WorkerOptions> options,
    ILogger<EntryRouter> logger)
{
    private readonly InFlightBudget _budget = new(options.Value.MaxInFlightEntries, options.Value.MaxInFlightEvents);
    // Entries being worked on, with when their idle time in the group was last reset (read, claimed or touched).
    private readonly ConcurrentDictionary<string, HeldEntry> _inFlight = new();

    // Below this many bytes a read is parsed on the reading thread: PLINQ's hand-offs cost more than parsing a read of
    // small entries.
    private const long ParallelParseBytes = 256 * 1024;

    private static long BytesOf(List<StreamEntry> entries)
    {
        long bytes = 0;
        foreach (var entry in entries)
        {
            foreach (var field in entry.Values)
            {
                bytes += ((ReadOnlyMemory<byte>)field.Value).Length;
            }
        }
        return bytes;
    }

    /// <summary>
    /// Routes entries read together; the events of a large read are parsed in parallel (the reader's main cost), then routed in
    /// order. The whole batch counts as held from the start, so entries still waiting for their turn (the reader
    /// may wait for in-flight room) are kept alive too and another worker's reclaim does not take them meanwhile.
    /// </summary>
    public async Task DispatchAsync(string stream, IReadOnlyList<StreamEntry> entries, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        // A reclaim can hand back an entry this worker is still working on; one copy in flight is enough.
        var mine = entries.Where(entry => _inFlight.TryAdd(KeyOf(stream, entry.Id), new HeldEntry(stream, entry.Id, now))).ToList();
        var dispatched = 0;
        try
        {
            var parsed = mine.Count > 1 && BytesOf(mine) >= ParallelParseBytes
                ? mine.AsParallel().AsOrdered().Select(ParseEvents).ToArray()
                : mine.Select(ParseEvents).ToArray();
            for (; dispatched < mine.Count; dispatched++)
            {
                await DispatchAsync(stream, mine[dispatched], parsed[dispatched], cancellationToken);
            }
        }
        finally
        {
            // Entries not handed over (shutdown) stay pending in the stream for a later reclaim.
            foreach (var entry in mine.Skip(dispatched))
            {
                _inFlight.TryRemove(KeyOf(stream, entry.Id), out _);
            }
        }
    }

    private static string KeyOf(string stream, RedisValue id) => stream + "|" + id;

    // A stream entry's id starts with the Unix milliseconds of its append; null for an id in another shape.
    private static DateTimeOffset? AppendedAt(RedisValue id)
    {
        var text = id.ToString();
        var dash = text.IndexOf('-');
        return long.TryParse(dash < 0 ? text : text[..dash], out var ms) && ms >= 0 && ms <= 253402300799999
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
    }

    private async Task DispatchAsync(
        string stream, StreamEntry entry, ParsedEntry parsed, CancellationToken cancellationToken)
    {
        var key = KeyOf(stream, entry.Id);
        var weight = parsed.All.Count;
        await _budget.TakeAsync(weight, cancellationToken);
        var tracked = new InFlightEntry(stream, entry.Id, (done, delivered) =>
        {
            if (delivered)
            {
                acker.Ack(done.Stream, done.Id);
            }
            _inFlight.TryRemove(key, out _);
            _budget.Return(weight);
        });

        try
        {
            if (parsed.Unreadable is { } unreadable)
            {
                if (unreadable.StoreId is { } ownerId)
                {
                    // A deletion reaches raw bytes too: an entry holding the identifier is not kept in the quarantine.
                    if (await pipelines.TryForStoreAsync(ownerId, cancellationToken) is not { } owner)
                    {
                        tracked.PartAbandoned();
                        return;
                    }
                    if (DeletionRule.FirstDropOfBytes(owner.Deletions, entry.Values.Select(f => (byte[])f.Value!).ToList(), AppendedAt(entry.Id)) is { } reason)
                    {
                        deletionDrops.RecordUnreadable(ownerId, reason);
                        logger.LogWarning("Unreadable entry {EntryId} of {Stream} (store {StoreId}) is reached by a deletion and dropped: {Error}",
                            entry.Id, stream, ownerId, unreadable.Error);
                        tracked.PartDone();
                        return;
                    }
                }
                // Acked only once its raw bytes are in Postgres; else it stays pending and is reclaimed later.
                if (await quarantine.TryAddAsync(stream, entry, unreadable, cancellationToken))
                {
                    tracked.PartDone();
                }
                else
                {
                    tracked.PartAbandoned();
                }
                return;
            }
            var waitsForPostgres = false;
            var routed = new List<(StoreRouting Routing, IReadOnlyList<EnrichedEvent> Events)>(parsed.EventsByStore.Count);
            foreach (var (storeId, received) in parsed.EventsByStore)
            {
                if (await pipelines.TryForStoreAsync(storeId, cancellationToken) is not { } routing)
                {
                    // Never loaded and Postgres cannot say now: the entry stays pending and comes back by reclaim
                    // (its other stores' pipelines may then get their events twice: at least once).
                    waitsForPostgres = true;
                    continue;
                }
                routed.Add((routing, deletionDrops.Filter(storeId, routing.Deletions, received)));
            }
            // Archived once every store's deletion rules are known: the writer leaves out what they reach.
            if (archive.Enabled && !waitsForPostgres)
            {
                tracked.AddPart();
                try
                {
                    await archive.EnqueueAsync(new ArchiveItem(tracked, parsed.All, parsed.BatchFields), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    tracked.PartAbandoned();
                    throw;
                }
            }
            foreach (var (routing, events) in routed)
            {
                foreach (var pipeline in routing.Pipelines)
                {
                    var wanted = events.Where(e => pipeline.Accepts(e.Event?.EventType ?? "")).ToList();
                    if (pipeline.RequiredConsent.Count > 0)
                    {
                        var consented = wanted.Where(e => pipeline.ConsentedBy(e.Event.Consent)).ToList();
                        if (consented.Count < wanted.Count)
                        {
                            stats.Record(pipeline.Id, consentMissing: wanted.Count - consented.Count);
                            metrics.ConsentMissing(pipeline.Kind, wanted.Count - consented.Count);
                        }
                        wanted = consented;
                    }
                    if (wanted.Count == 0)
                    {
                        continue;
                    }
                    if (!lanes.Knows(pipeline.Kind))
                    {
                        // Acking without them would lose the events; holding the entry back would redeliver it to
                        // every other pipeline on each reclaim. Parked, they wait for a worker that knows the kind.
                        logger.LogError("Pipeline {PipelineId} has unknown kind {Kind}; its {Count} events are parked",
                            pipeline.Id, pipeline.Kind, wanted.Count);
                        tracked.AddPart();
                        await ParkAsync(pipeline, new LaneItem(tracked, wanted), cancellationToken);
                        continue;
                    }
                    var lane = lanes.For(pipeline);
                    foreach (var chunk in wanted.Chunk(lane.BatchSize))
                    {
                        tracked.AddPart();
                        var item = new LaneItem(tracked, chunk);
                        if (!await lane.EnqueueAsync(item, cancellationToken))
                        {
                            await ParkAsync(pipeline, item, cancellationToken);
                        }
                    }
                }
            }
            if (waitsForPostgres)
            {
                tracked.PartAbandoned();
            }
            else
            {
                tracked.PartDone();
            }
        }
        catch (OperationCanceledException)
        {
            tracked.PartAbandoned();
            throw;
        }
    }

    // Whether the entry holds batch fields only, as ingestion writes it (then the archive stores them as they are).
    private static bool BatchFieldsOnly(StreamEntry entry) =>
        entry.Values.Length > 0 && Array.TrueForAll(entry.Values, f => f.Name == QueueKeys.BatchField);

    // Parks events this worker cannot hand to a lane: the lane stays full (a hanging destination: park instead of
    // waiting, so other pipelines go on) or the pipeline's kind is unknown.
    private async Task ParkAsync(Beacon.Core.Data.Pipeline pipeline, LaneItem item, CancellationToken cancellationToken)
    {
        try
        {
            await outcomes.ParkAsync(pipeline, Guid.CreateVersion7(), item.Events, cancellationToken);
            item.Entry.PartDone();
        }
        catch (Exception ex) when (ex is NpgsqlException or Microsoft.EntityFrameworkCore.DbUpdateException or InvalidOperationException)
        {
            logger.LogWarning(ex, "Could not park events of pipeline {PipelineId}; the entry stays pending", pipeline.Id);
            item.Entry.PartAbandoned();
        }
    }

    /// <summary>
    /// Entries this worker has held for longer than <paramref name="age"/> since it last told Redis; marks them as
    /// told. The caller resets their idle time (XCLAIM to itself) so a slow lane is not mistaken for a crash.
    /// </summary>
    public IReadOnlyList<(string Stream, RedisValue Id)> TakeHeldLongerThan(TimeSpan age)
    {
        var now = Environment.TickCount64;
        var held = new List<(string, RedisValue)>();
        foreach (var (key, entry) in _inFlight)
        {
            if (now - entry.TouchedAt >= age.TotalMilliseconds && _inFlight.TryUpdate(key, entry with { TouchedAt = now }, entry))
            {
                held.Add((entry.Stream, entry.Id));
            }
        }
        return held;
    }

    private sealed record HeldEntry(string Stream, RedisValue Id, long TouchedAt);

    /// <summary>
    /// An entry's events by store, or why it cannot be delivered: its fields are not an entry's (bytes that are no
    /// envelope or batch, one nested deeper than protobuf reads), it holds no events, or an envelope has no event or
    /// no store. Delivering the rest of such an entry would make a later replay deliver those events twice.
    /// </summary>
    private static ParsedEntry ParseEvents(StreamEntry entry)
    {
        List<EnrichedEvent> events;
        var fieldCounts = BatchFieldsOnly(entry) ? new List<int>(entry.Values.Length) : null;
        try
        {
            events = [];
            foreach (var field in entry.Values)
            {
                // Field by field, so the archive learns each batch field's share of the events without reading it again.
                var before = events.Count;
                events.AddRange(QueueEntries.Read([field]));
                fieldCounts?.Add(events.Count - before);
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            return ParsedEntry.Of(new UnreadableEntry($"Not an entry of events: {ex.Message}", QueueEntries.StoreIdOf(entry.Values)));
        }
        if (events.Count == 0)
        {
            var fields = string.Join(", ", entry.Values.Select(f => $"'{f.Name}'"));
            return ParsedEntry.Of(new UnreadableEntry(
                $"Holds no events: fields {fields}; events are in field '{QueueKeys.BatchField}'", null));
        }
        var byStore = new Dictionary<Guid, List<EnrichedEvent>>();
        for (var i = 0; i < events.Count; i++)
        {
            var envelope = events[i];
            if (!Guid.TryParse(envelope.StoreId, out var storeId) || envelope.Event is null)
            {
                var known = events.Select(e => Guid.TryParse(e.StoreId, out var id) ? id : (Guid?)null).FirstOrDefault(id => id is not null);
                return ParsedEntry.Of(new UnreadableEntry(
                    envelope.Event is null ? $"Envelope {i} holds no event" : $"Event {i} has no store id (store_id '{envelope.StoreId}')", known));
            }
            if (!byStore.TryGetValue(storeId, out var list))
            {
                byStore[storeId] = list = [];
            }
            list.Add(envelope);
        }
        var batchFields = fieldCounts?.Select((count, i) => ((byte[])entry.Values[i].Value!, count)).ToList();
        return new ParsedEntry(byStore.Select(pair => (pair.Key, pair.Value)).ToList(), null, events, batchFields);
    }

    private sealed record ParsedEntry(
        List<(Guid StoreId, List<EnrichedEvent> Events)> EventsByStore, UnreadableEntry? Unreadable, IReadOnlyList<EnrichedEvent> All,
        IReadOnlyList<(byte[] Bytes, int Count)>? BatchFields = null)
    {
        public static ParsedEntry Of(UnreadableEntry unreadable) => new([], unreadable, []);
    }
}
