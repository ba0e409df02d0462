using Beacon.Core.Hosting;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Beacon.Core.Queue;
using Beacon.TestHost;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Beacon.Ingestion.Tests;

/// <summary>DESIGN §3 Readiness: /health says healthy only once the service has warmed up, and warming up stores nothing.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task HealthSaysWarmingUpUntilTheWarmUpHasReachedTheTokenStoreAndTheDoors()
    {
        var backends = await Backends.StartIsolatedAsync();
        // The warm-up's token query waits for this lock: the service is known to be mid-warm-up while it is held.
        var tokens = await TokenTableLock.TakeAsync(backends.PostgresConnectionString);
        await using var server = IsolatedIngestionServer.Start(backends);
        using var http = server.CreateClient();
        try
        {
            await tokens.WaitForLookupAsync();

            var response = await http.GetAsync("/health");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("\"warm-up\":{\"status\":\"Unhealthy\",\"description\":\"Warming up: asking the token store\"}", body);
            Assert.Contains($"\"{HostingExtensions.RedisHealthCheckName}\":{{\"status\":\"Healthy\"", body);
        }
        finally
        {
            await tokens.DisposeAsync();
        }
        await server.WaitUntilHealthyAsync();
        Assert.Contains("\"warm-up\":{\"status\":\"Healthy\"", await http.GetStringAsync("/health"));
    }

    [Fact]
    public async Task TheWarmUpRunsTheDoorsIntoRedisButLeavesNothingQueuedAndCountsNothing()
    {
        var backends = await Backends.StartIsolatedAsync();
        var measured = new ConcurrentBag<(object? Scope, string Instrument)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Beacon" && instrument.Name.StartsWith("beacon.ingest.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, _, _) => measured.Add((instrument.Meter.Scope, instrument.Name)));
        listener.SetMeasurementEventCallback<double>((instrument, _, _, _) => measured.Add((instrument.Meter.Scope, instrument.Name)));
        listener.Start();
        await using var server = IsolatedIngestionServer.Start(backends);

        await server.WaitUntilHealthyAsync();

        await using var redis = await ConnectionMultiplexer.ConnectAsync(backends.RedisConnectionString);
        var stats = (string)(await redis.GetServers()[0].ExecuteAsync("INFO", "commandstats"))!;
        // The rehearsal did append: a plain XADD (/beacon) and the dedup script (/api/v1/events, gRPC).
        Assert.Contains("cmdstat_xadd:", stats);
        Assert.Matches("cmdstat_(eval|evalsha):", stats);
        Assert.Equal(0, await redis.GetDatabase().StreamLengthAsync(QueueKeys.Stream(0)));
        // Only the rate-limit counters of /api/v1/events remain; they expire with their window.
        Assert.DoesNotContain(redis.GetServers()[0].Keys(pattern: "beacon:*"), key => !key.ToString().StartsWith("beacon:rl:", StringComparison.Ordinal));
        var meters = server.Services.GetRequiredService<IMeterFactory>();
        Assert.DoesNotContain(measured, m => ReferenceEquals(m.Scope, meters));
    }
}
