using System.Diagnostics.Metrics;

namespace Beacon.Worker;

/// <summary>The worker's instruments on the shared "Beacon" meter.</summary>
public sealed class WorkerMetrics
{
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _unparseableBatches;
    private readonly Counter<long> _quarantined;
    private readonly Counter<long> _notDelivered;
    private long _lag;
    private long _pending;

    public WorkerMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Microsoft.Extensions.Hosting.Extensions.BeaconTelemetryName);
        _delivered = meter.CreateCounter<long>("beacon.worker.events.delivered", "{event}", "Events delivered to pipelines");
        _failed = meter.CreateCounter<long>("beacon.worker.events.failed", "{event}", "Events in failed delivery attempts");
        _retried = meter.CreateCounter<long>("beacon.worker.events.retried", "{event}", "Events parked for a later attempt");
        _deadLettered = meter.CreateCounter<long>("beacon.worker.events.dead_lettered", "{event}", "Events given up on");
        _unparseableBatches = meter.CreateCounter<long>("beacon.worker.retry_batches.unparseable", "{batch}",
            "Parked batches dropped because their payload could not be read");
        _quarantined = meter.CreateCounter<long>("beacon.worker.entries.quarantined", "{entry}",
            "Stream entries the worker could not read, kept in the quarantine table before they were acked");
        _notDelivered = meter.CreateCounter<long>("beacon.worker.events.dropped", "{event}",
            "Events not delivered: a deletion or suppression of one of their identifiers, or their store's deletion, reached them, or a pipeline's required consent was missing (by reason)");
        _latency = meter.CreateHistogram<double>("beacon.worker.delivery.duration", "ms", "Duration of one delivery attempt");
        meter.CreateObservableGauge("beacon.worker.lag", () => Interlocked.Read(ref _lag), "{entry}",
            "Stream entries not yet acked by the group (never read plus pending)");
        meter.CreateObservableGauge("beacon.worker.pending", () => Interlocked.Read(ref _pending), "{entry}",
            "Stream entries read by a worker and not yet acked");
    }

    public void Delivered(string kind, int events, TimeSpan latency)
    {
        _delivered.Add(events, new KeyValuePair<string, object?>("pipeline.kind", kind));
        _latency.Record(latency.TotalMilliseconds, new KeyValuePair<string, object?>("pipeline.kind", kind));
    }

    public void Failed(string kind, int events) => _failed.Add(events, new KeyValuePair<string, object?>("pipeline.kind", kind));

    public void Retried(string kind, int events) => _retried.Add(events, new KeyValuePair<string, object?>("pipeline.kind", kind));

    public void DeadLettered(string kind, int events) => _deadLettered.Add(events, new KeyValuePair<string, object?>("pipeline.kind", kind));

    public void UnparseableBatch(string kind) => _unparseableBatches.Add(1, new KeyValuePair<string, object?>("pipeline.kind", kind));

    public void Quarantined() => _quarantined.Add(1);

    public void DroppedByDeletion(string reason) => _notDelivered.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ConsentMissing(string kind, int events) =>
        _notDelivered.Add(events, new KeyValuePair<string, object?>("reason", "consent_missing"), new KeyValuePair<string, object?>("pipeline.kind", kind));

    public void SetLag(long lag, long pending)
    {
        Interlocked.Exchange(ref _lag, lag);
        Interlocked.Exchange(ref _pending, pending);
    }
}
