using System.Diagnostics;
using System.Diagnostics.Metrics;
using Beacon.Core.Catalog;

namespace Beacon.Ingestion.Intake;

/// <summary>Ingestion instruments on the <c>Beacon</c> meter. Tags are bounded: unknown event types count as <c>unknown</c>.</summary>
public sealed class IngestionMetrics
{
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _deduplicated;
    private readonly Histogram<long> _requestSize;
    private readonly Histogram<double> _enqueueDuration;

    public IngestionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Microsoft.Extensions.Hosting.Extensions.BeaconTelemetryName);
        _accepted = meter.CreateCounter<long>("beacon.ingest.events.accepted", "{event}", "Events durably queued.");
        _dropped = meter.CreateCounter<long>("beacon.ingest.events.dropped", "{event}", "Events rejected by validation, by reason and type.");
        _deduplicated = meter.CreateCounter<long>("beacon.ingest.events.deduplicated", "{event}", "Accepted events not queued again (event_id seen).");
        _requestSize = meter.CreateHistogram<long>("beacon.ingest.request.size", "By", "JSON request body sizes.");
        _enqueueDuration = meter.CreateHistogram<double>("beacon.ingest.enqueue.duration", "ms", "Time from enqueue to Redis acknowledgement.");
    }

    public void Accepted(string source, int count)
    {
        if (count > 0)
        {
            _accepted.Add(count, new KeyValuePair<string, object?>("source", source));
        }
    }

    public void Dropped(string source, string code, string? eventType) =>
        _dropped.Add(1,
            new KeyValuePair<string, object?>("source", source),
            new KeyValuePair<string, object?>("reason", code),
            new KeyValuePair<string, object?>("event_type", BoundedType(eventType)));

    public void Deduplicated(string source, int count)
    {
        if (count > 0)
        {
            _deduplicated.Add(count, new KeyValuePair<string, object?>("source", source));
        }
    }

    public void RequestSize(string source, long bytes) => _requestSize.Record(bytes, new KeyValuePair<string, object?>("source", source));

    public void EnqueueDuration(long startTimestamp, bool succeeded) =>
        _enqueueDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds,
            new KeyValuePair<string, object?>("outcome", succeeded ? "stored" : "failed"));

    public static string BoundedType(string? eventType) =>
        string.IsNullOrEmpty(eventType) ? "none" : EventCatalog.IsKnown(eventType) ? eventType : "unknown";
}
