using System.Collections.Concurrent;
using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Beacon.Worker.Delivery;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// Routes a stream entry to the lanes of the pipelines that want its events (store, enabled, event-type filter)
/// and acks it once all of them have delivered or parked their part.
/// </summary>
public sealed class EntryRouter(
    PipelineCache pipelines,
    PipelineLanes lanes,
    DeliveryOutcomes outcomes,
    StreamAcker acker,
    IOptions<WorkerOptions> options,
    ILogger<EntryRouter> logger)
{
    private readonly SemaphoreSlim _inFlightSlots = new(options.Value.MaxInFlightEntries);
    // Entries being worked on, with when their idle time in the group was last reset (read, claimed or touched).
    private readonly ConcurrentDictionary<string, HeldEntry> _inFlight = new();

    public int InFlightCount => _inFlight.Count;

    /// <summary>Routes entries read together; their events are parsed in parallel (the reader's main cost), then routed in order.</summary>
    public async Task DispatchAsync(string stream, IReadOnlyList<StreamEntry> entries, CancellationToken cancellationToken)
    {
        var parsed = entries.Count > 1
            ? entries.AsParallel().AsOrdered().Select(entry => ParseEvents(stream, entry)).ToArray()
            : entries.Select(entry => ParseEvents(stream, entry)).ToArray();
        for (var i = 0; i < entries.Count; i++)
        {
            await DispatchAsync(stream, entries[i], parsed[i], cancellationToken);
        }
    }

    private async Task DispatchAsync(
        string stream, StreamEntry entry, List<(Guid StoreId, List<EnrichedEvent> Events)> eventsByStore, CancellationToken cancellationToken)
    {
        var key = stream + "|" + entry.Id;
        // A reclaim can hand back an entry this worker is still working on; one copy in flight is enough.
        if (!_inFlight.TryAdd(key, new HeldEntry(stream, entry.Id, Environment.TickCount64)))
        {
            return;
        }
        try
        {
            await _inFlightSlots.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _inFlight.TryRemove(key, out _);
            throw;
        }
        var tracked = new InFlightEntry(stream, entry.Id, (done, delivered) =>
        {
            if (delivered)
            {
                acker.Ack(done.Stream, done.Id);
            }
            _inFlight.TryRemove(key, out _);
            _inFlightSlots.Release();
        });

        try
        {
            foreach (var (storeId, events) in eventsByStore)
            {
                var storePipelines = await LoadPipelinesAsync(storeId, cancellationToken);
                foreach (var pipeline in storePipelines)
                {
                    var wanted = events.Where(e => pipeline.Accepts(e.Event?.EventType ?? "")).ToList();
                    if (wanted.Count == 0)
                    {
                        continue;
                    }
                    if (!lanes.Knows(pipeline.Kind))
                    {
                        logger.LogError("Pipeline {PipelineId} has unknown kind {Kind}; skipped", pipeline.Id, pipeline.Kind);
                        continue;
                    }
                    var lane = lanes.For(pipeline);
                    foreach (var chunk in wanted.Chunk(lane.BatchSize))
                    {
                        tracked.AddPart();
                        var item = new LaneItem(tracked, chunk);
                        if (!await lane.EnqueueAsync(item, cancellationToken))
                        {
                            await ParkOverflowAsync(pipeline, item, cancellationToken);
                        }
                    }
                }
            }
            tracked.PartDone();
        }
        catch (OperationCanceledException)
        {
            tracked.PartAbandoned();
            throw;
        }
    }

    // A lane that stays full means the destination is hanging: park instead of waiting so other pipelines go on.
    private async Task ParkOverflowAsync(Beacon.Core.Data.Pipeline pipeline, LaneItem item, CancellationToken cancellationToken)
    {
        try
        {
            await outcomes.ParkAsync(pipeline, Guid.CreateVersion7(), item.Events, cancellationToken);
            item.Entry.PartDone();
        }
        catch (Exception ex) when (ex is NpgsqlException or Microsoft.EntityFrameworkCore.DbUpdateException or InvalidOperationException)
        {
            logger.LogWarning(ex, "Could not park overflow of pipeline {PipelineId}; the entry stays pending", pipeline.Id);
            item.Entry.PartAbandoned();
        }
    }

    private async Task<IReadOnlyList<Beacon.Core.Data.Pipeline>> LoadPipelinesAsync(Guid storeId, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await pipelines.ForStoreAsync(storeId, cancellationToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning(ex, "Could not load the pipelines of store {StoreId}; retrying", storeId);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
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

    private List<(Guid StoreId, List<EnrichedEvent> Events)> ParseEvents(string stream, StreamEntry entry)
    {
        var byStore = new Dictionary<Guid, List<EnrichedEvent>>();
        foreach (var field in entry.Values)
        {
            if (field.Name != QueueKeys.EventField)
            {
                continue;
            }
            try
            {
                var envelope = EnrichedEvent.Parser.ParseFrom((byte[])field.Value!);
                if (!Guid.TryParse(envelope.StoreId, out var storeId))
                {
                    logger.LogError("Entry {EntryId} of {Stream} has an event without a store id; skipped", entry.Id, stream);
                    continue;
                }
                if (!byStore.TryGetValue(storeId, out var list))
                {
                    byStore[storeId] = list = [];
                }
                list.Add(envelope);
            }
            catch (InvalidProtocolBufferException ex)
            {
                // Nothing can deliver an event that cannot be read; holding the entry back would block nothing but itself.
                logger.LogError(ex, "Entry {EntryId} of {Stream} has an unreadable event; skipped", entry.Id, stream);
            }
        }
        return byStore.Select(pair => (pair.Key, pair.Value)).ToList();
    }
}
