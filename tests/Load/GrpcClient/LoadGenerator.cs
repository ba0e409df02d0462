using System.Diagnostics;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

namespace Beacon.GrpcClient;

/// <summary>Events acked per second over a measured period (after a warm-up that is not counted).</summary>
public sealed record LoadResult(string Mode, long Events, long Calls, long Errors, TimeSpan Elapsed)
{
    public double EventsPerSecond => Events / Elapsed.TotalSeconds;
    public double CallsPerSecond => Calls / Elapsed.TotalSeconds;
}

/// <summary>
/// Drives the server as hard as it can: many streams, each keeping <c>window</c> batches unacked, or many
/// concurrent unary <c>Send</c> calls. Every event has a unique id, as the reference client's would, so dedup
/// does its full work. Unlike <see cref="EventStreamSender"/> nothing is buffered for retry: errors are counted.
/// </summary>
public static class LoadGenerator
{
    public static async Task<LoadResult> StreamAsync(
        Uri url, string token, int connections, int streams, int window, int batchSize, TimeSpan warmUp, TimeSpan duration)
    {
        var counters = new Counters();
        var channels = OpenChannels(url, connections);
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, streams).Select(i => Task.Run(() =>
            StreamWorkerAsync(new EventIngest.EventIngestClient(channels[i % channels.Length]), token, window, batchSize, counters, stop.Token))).ToArray();
        var result = await MeasureAsync("stream", counters, warmUp, duration);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Array.ForEach(channels, c => c.Dispose());
        return result;
    }

    public static async Task<LoadResult> SendAsync(
        Uri url, string token, int connections, int concurrency, int batchSize, TimeSpan warmUp, TimeSpan duration)
    {
        var counters = new Counters();
        var channels = OpenChannels(url, connections);
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, concurrency).Select(i => Task.Run(() =>
            SendWorkerAsync(new EventIngest.EventIngestClient(channels[i % channels.Length]), token, batchSize, counters, stop.Token))).ToArray();
        var result = await MeasureAsync("send", counters, warmUp, duration);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Array.ForEach(channels, c => c.Dispose());
        return result;
    }

    private static async Task StreamWorkerAsync(
        EventIngest.EventIngestClient client, string token, int window, int batchSize, Counters counters, CancellationToken stop)
    {
        var events = new EventFactory();
        while (!stop.IsCancellationRequested)
        {
            using var call = client.Stream(Headers(token));
            using var slots = new SemaphoreSlim(window, window);
            var reading = Task.Run(async () =>
            {
                await foreach (var ack in call.ResponseStream.ReadAllAsync())
                {
                    counters.Acked(ack.Accepted);
                    slots.Release();
                }
            });
            try
            {
                for (ulong sequence = 1; !stop.IsCancellationRequested; sequence++)
                {
                    await slots.WaitAsync(stop);
                    await call.RequestStream.WriteAsync(events.Batch(sequence, batchSize));
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (RpcException)
            {
                // Reported by the reader below.
            }
            try
            {
                await call.RequestStream.CompleteAsync();
                await reading;
            }
            catch (Exception ex) when (ex is RpcException or InvalidOperationException)
            {
                counters.Failed();
            }
        }
    }

    private static async Task SendWorkerAsync(
        EventIngest.EventIngestClient client, string token, int batchSize, Counters counters, CancellationToken stop)
    {
        var events = new EventFactory();
        var headers = Headers(token);
        while (!stop.IsCancellationRequested)
        {
            var request = new SendEventsRequest { Events = { events.Batch(0, batchSize).Events } };
            try
            {
                var response = await client.SendAsync(request, headers);
                counters.Acked(response.Accepted);
            }
            catch (RpcException)
            {
                counters.Failed();
            }
        }
    }

    private static async Task<LoadResult> MeasureAsync(string mode, Counters counters, TimeSpan warmUp, TimeSpan duration)
    {
        await Task.Delay(warmUp);
        var (events, calls, errors) = counters.Snapshot();
        var clock = Stopwatch.StartNew();
        await Task.Delay(duration);
        var (eventsAfter, callsAfter, errorsAfter) = counters.Snapshot();
        return new LoadResult(mode, eventsAfter - events, callsAfter - calls, errorsAfter - errors, clock.Elapsed);
    }

    private static GrpcChannel[] OpenChannels(Uri url, int connections) =>
        Enumerable.Range(0, Math.Max(1, connections)).Select(_ => GrpcChannel.ForAddress(url, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        })).ToArray();

    private static Metadata Headers(string token) => new()
    {
        { "x-storefront-access-token", token },
        { "user-agent", "BeaconLoad/1.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)" },
    };

    private sealed class Counters
    {
        private long _events, _calls, _errors;

        public void Acked(uint events)
        {
            Interlocked.Add(ref _events, events);
            Interlocked.Increment(ref _calls);
        }

        public void Failed() => Interlocked.Increment(ref _errors);

        public (long Events, long Calls, long Errors) Snapshot() =>
            (Interlocked.Read(ref _events), Interlocked.Read(ref _calls), Interlocked.Read(ref _errors));
    }
}

/// <summary>Realistic product views with unique ids (<c>run-worker-n</c>), cheap enough not to be the bottleneck.</summary>
public sealed class EventFactory
{
    private readonly string _prefix = Guid.NewGuid().ToString("N")[..12];
    private readonly Timestamp _now = Timestamp.FromDateTime(DateTime.UtcNow);
    private long _next;

    public EventBatch Batch(ulong sequence, int size)
    {
        var batch = new EventBatch { Sequence = sequence };
        for (var i = 0; i < size; i++)
        {
            var n = _next++;
            batch.Events.Add(new Event
            {
                EventId = $"{_prefix}-{n}",
                EventType = "product_view",
                Timestamp = _now,
                SessionId = _prefix,
                DeviceId = _prefix,
                ProductId = (8_000_000_000 + n % 5000).ToString(),
                ShoppingChannel = "app",
            });
        }
        return batch;
    }
}
