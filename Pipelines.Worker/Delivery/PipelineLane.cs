using System.Threading.Channels;
using Beacon.Core.Data;
using Beacon.Protos.Queue;
using Beacon.Worker.Routing;

namespace Beacon.Worker.Delivery;

/// <summary>Events of one stream entry for one pipeline, waiting in that pipeline's lane; <paramref name="Entry"/> hears how they ended.</summary>
public sealed record LaneItem(IDeliveryPart Entry, IReadOnlyList<EnrichedEvent> Events);

/// <summary>
/// One pipeline's own queue: it gathers events into batches (size or linger), delivers several batches at once
/// (<see cref="LaneConcurrency"/>: more while events wait and the destination keeps up, fewer when it asks for
/// retries), and records each result durably before releasing the stream entries. Lanes share nothing, so a hanging
/// destination only ever fills its own lane.
/// </summary>
public sealed class PipelineLane
{
    private readonly Channel<LaneItem> _items;
    private readonly Func<Pipeline, IPipelineDestination> _destinationOf;
    private readonly DeliveryOutcomes _outcomes;
    private readonly DeletionDrops _deletionDrops;
    private readonly LaneConcurrency _concurrency;
    private readonly ILogger _logger;
    private readonly TimeSpan _stallTimeout;
    private volatile Pipeline _pipeline;
    // Set when the reader waited a whole stall timeout for room; cleared when a batch completes in good time.
    private volatile bool _stalled;

    /// <param name="destinationOf">
    /// Resolved for every batch from the pipeline as it is then: Admin can change a pipeline's kind (webhook ↔
    /// postgres), and a lane must not keep writing to the destination it was created for.
    /// </param>
    public PipelineLane(
        Pipeline pipeline, Func<Pipeline, IPipelineDestination> destinationOf, DeliveryOutcomes outcomes, DeletionDrops deletionDrops,
        WorkerOptions options, ILogger logger)
    {
        _pipeline = pipeline;
        _destinationOf = destinationOf;
        _outcomes = outcomes;
        _deletionDrops = deletionDrops;
        _concurrency = new LaneConcurrency(options.MaxConcurrentBatchesPerPipeline);
        _stallTimeout = options.LaneStallTimeout;
        _logger = logger;
        _items = Channel.CreateBounded<LaneItem>(new BoundedChannelOptions(Math.Max(1, options.LaneCapacity))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>The pipeline's own <c>batchSize</c> setting, within what its destination takes at once; else the kind's default.</summary>
    public int BatchSize => BatchSizeOf(_pipeline, _destinationOf(_pipeline));

    public static int BatchSizeOf(Pipeline pipeline, IPipelineDestination destination) =>
        PipelineSettings.BatchSizeOf(pipeline) is { } size ? Math.Clamp(size, 1, PipelineSettings.MaxBatchSizeOf(pipeline.Kind)) : destination.BatchSize;

    private static TimeSpan LingerOf(Pipeline pipeline, IPipelineDestination destination) =>
        PipelineSettings.LingerMsOf(pipeline) is { } ms ? TimeSpan.FromMilliseconds(Math.Clamp(ms, 0, PipelineSettings.MaxLingerMs)) : destination.Linger;

    /// <summary>Picks up configuration changes (kind, URL, secrets) for the next batches.</summary>
    public void Update(Pipeline pipeline) => _pipeline = pipeline;

    /// <summary>
    /// Queues events, waiting for room while the lane is making progress (back-pressure for a busy destination).
    /// False when the lane is stalled (a hanging or very slow destination): the caller parks the events instead,
    /// so the reader, and with it every other pipeline, never waits on this one for long.
    /// </summary>
    public async Task<bool> EnqueueAsync(LaneItem item, CancellationToken cancellationToken)
    {
        if (_items.Writer.TryWrite(item))
        {
            return true;
        }
        if (_stalled)
        {
            return false;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_stallTimeout);
        try
        {
            await _items.Writer.WriteAsync(item, timeout.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _stalled = true;
            return false;
        }
    }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var inFlight = new List<Task>();
        var batch = new List<LaneItem>();
        try
        {
            while (await _items.Reader.WaitToReadAsync(stoppingToken))
            {
                await FillAsync(batch, stoppingToken);
                await _concurrency.WaitAsync(stoppingToken);
                var items = batch.ToList();
                batch.Clear();
                // More than this batch waits: the lane is behind, and a delivered batch may let one more run at once.
                var behind = _items.Reader.Count > 0;
                inFlight.RemoveAll(t => t.IsCompleted);
                // In-flight batches run to their end (bounded by the delivery timeout) even during shutdown.
                inFlight.Add(Task.Run(async () =>
                {
                    var signal = LaneSignal.Shrink;
                    try
                    {
                        signal = await DeliverAsync(items, behind);
                    }
                    finally
                    {
                        _concurrency.Release(signal, _destinationOf(_pipeline).MaxConcurrentBatches);
                    }
                }, CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await Task.WhenAll(inFlight);
        // What was queued but not attempted stays unacked in the stream; another worker (or this one after a
        // restart) reclaims it.
        foreach (var item in batch)
        {
            item.Entry.PartAbandoned();
        }
        while (_items.Reader.TryRead(out var left))
        {
            left.Entry.PartAbandoned();
        }
    }

    private async Task FillAsync(List<LaneItem> batch, CancellationToken stoppingToken)
    {
        var count = 0;
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        linger.CancelAfter(LingerOf(_pipeline, _destinationOf(_pipeline)));
        while (count < BatchSize)
        {
            if (_items.Reader.TryPeek(out var next))
            {
                if (count > 0 && count + next.Events.Count > BatchSize)
                {
                    return;
                }
                _items.Reader.TryRead(out next);
                batch.Add(next!);
                count += next!.Events.Count;
                continue;
            }
            try
            {
                if (!await _items.Reader.WaitToReadAsync(linger.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task<LaneSignal> DeliverAsync(List<LaneItem> items, bool behind)
    {
        var signal = behind ? LaneSignal.Grow : LaneSignal.Settle;
        var pipeline = _pipeline;
        IReadOnlyList<EnrichedEvent> events = items.Count == 1 ? items[0].Events : items.SelectMany(i => i.Events).ToList();
        try
        {
            // A deletion that became known while these events waited in the lane still reaches them.
            events = _deletionDrops.FilterAsWritten(pipeline.StoreId, events);
            var destination = _destinationOf(pipeline);
            // Events queued under another kind may come in chunks larger than this destination takes at once.
            var batchSize = BatchSizeOf(pipeline, destination);
            var batches = events.Count == 0 ? []
                : events.Count <= batchSize ? [events]
                : events.Chunk(batchSize).Select(chunk => (IReadOnlyList<EnrichedEvent>)chunk).ToList();
            foreach (var batch in batches)
            {
                var batchId = Guid.CreateVersion7();
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var result = await destination.DeliverAsync(pipeline, batchId, batch, CancellationToken.None);
                if (result.Outcome == DeliveryOutcome.Retry)
                {
                    signal = LaneSignal.Shrink;
                }
                if (System.Diagnostics.Stopwatch.GetElapsedTime(started) < _stallTimeout)
                {
                    _stalled = false;
                }
                await _outcomes.AfterFirstAttemptAsync(pipeline, batchId, batch, result, CancellationToken.None);
            }
            foreach (var item in items)
            {
                item.Entry.PartDone();
            }
            return signal;
        }
        catch (Exception ex)
        {
            // Neither delivered nor parked (typically Postgres down while parking): leave the entries pending so
            // they are reclaimed and tried again. Every failure lands here, not only the expected database ones,
            // because entries that are never released would be held, and kept from reclaim, forever.
            _logger.LogError(ex, "Could not record the outcome of a batch of pipeline {PipelineId}; its entries stay pending", pipeline.Id);
            foreach (var item in items)
            {
                item.Entry.PartAbandoned();
            }
            return LaneSignal.Shrink;
        }
    }
}
