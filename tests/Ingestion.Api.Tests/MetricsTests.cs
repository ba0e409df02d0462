using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>The Beacon meter's ingestion instruments count what the requests did.</summary>
public sealed class MetricsTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task AcceptedDroppedDeduplicatedSizesAndEnqueueLatencyAreMeasured()
    {
        // Only this host's meter: other test classes run their own hosts in parallel.
        var meterFactory = host.Factory.Services.GetRequiredService<IMeterFactory>();
        var measurements = new ConcurrentBag<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Beacon" && instrument.Meter.Scope == meterFactory && instrument.Name.StartsWith("beacon.ingest.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.Start();
        var store = await host.CreateStoreAsync();
        var body = Batch(
            LayersEvent("page_view", "\"event_id\":\"m-1\""),
            LayersEvent("page_view", "\"event_id\":\"m-1\""),
            LayersEvent("product_view"),
            LayersEvent("mystery_type"));

        var response = await host.CreateClient().PostAsync("/beacon?token=" + Uri.EscapeDataString(store.Token), Json(body));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        listener.RecordObservableInstruments();
        double Sum(string name, Func<Dictionary<string, object?>, bool>? where = null) =>
            measurements.Where(m => m.Instrument == name && (where?.Invoke(m.Tags) ?? true)).Sum(m => m.Value);
        Assert.Equal(1, Sum("beacon.ingest.events.accepted", t => (string?)t["source"] == "beacon"));
        Assert.Equal(1, Sum("beacon.ingest.events.deduplicated"));
        Assert.Equal(1, Sum("beacon.ingest.events.dropped", t => (string?)t["reason"] == "missing_field" && (string?)t["event_type"] == "product_view"));
        Assert.Equal(1, Sum("beacon.ingest.events.dropped", t => (string?)t["reason"] == "unknown_type" && (string?)t["event_type"] == "unknown"));
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(body), Sum("beacon.ingest.request.size"));
        Assert.Single(measurements, m => m.Instrument == "beacon.ingest.enqueue.duration" && (string?)m.Tags["outcome"] == "stored");
    }
}
