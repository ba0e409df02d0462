using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;

namespace Beacon.Worker.Tests;

public sealed class MetricsTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task DeliveriesRetriesDeadLettersAndLagAreReportedOnTheBeaconMeter()
    {
        var measurements = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Beacon" && instrument.Name.StartsWith("beacon.worker.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            measurements.AddOrUpdate(instrument.Name, value, (_, total) => instrument is ObservableGauge<long> ? value : total + value));
        listener.Start();

        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var ok = scenario.Own(await WebhookReceiver.StartAsync());
        var unavailable = scenario.Own(await WebhookReceiver.StartAsync());
        unavailable.Respond = (context, _) =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        };
        var rejecting = scenario.Own(await WebhookReceiver.StartAsync());
        rejecting.Respond = (context, _) =>
        {
            context.Response.StatusCode = 400;
            return Task.CompletedTask;
        };
        await scenario.AddWebhookPipelineAsync(ok.Url);
        await scenario.AddWebhookPipelineAsync(unavailable.Url);
        await scenario.AddWebhookPipelineAsync(rejecting.Url);
        scenario.StartWorker();

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 4);
        await ok.WaitUntilAsync(r => r.AcceptedEventIds.Count == 4, TimeSpan.FromSeconds(20), "four events delivered");
        await Eventually.WaitAsync(() =>
        {
            listener.RecordObservableInstruments();
            return Task.FromResult(
                measurements.GetValueOrDefault("beacon.worker.events.delivered") >= 4
                && measurements.GetValueOrDefault("beacon.worker.events.retried") >= 4
                && measurements.GetValueOrDefault("beacon.worker.events.dead_lettered") >= 4
                && measurements.GetValueOrDefault("beacon.worker.events.failed") >= 8
                && measurements.ContainsKey("beacon.worker.lag"));
        }, TimeSpan.FromSeconds(10), "delivered, retried, dead-lettered, failed and lag measurements");
    }
}
