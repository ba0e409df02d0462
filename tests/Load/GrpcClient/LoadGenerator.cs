using System.Diagnostics;
using Beacon.Protos.V1;
using Google.Protobuf;
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
        Uri url, string token, int connections, int streams, int window, int batchSize, TimeSpan warmUp, TimeSpan duration, bool withEventIds = true)
    {
        var counters = new Counters();
        var channels = OpenChannels(url, connections);
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, streams).Select(i => Task.Run(() =>
            StreamWorkerAsync(channels[i % channels.Length].CreateCallInvoker(), token, window, batchSize, withEventIds, counters, stop.Token))).ToArray();
        var result = await MeasureAsync("stream", counters, warmUp, duration);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Array.ForEach(channels, c => c.Dispose());
        return result;
    }

    public static async Task<LoadResult> SendAsync(
        Uri url, string token, int connections, int concurrency, int batchSize, TimeSpan warmUp, TimeSpan duration, bool withEventIds = true)
    {
        var counters = new Counters();
        var channels = OpenChannels(url, connections);
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, concurrency).Select(i => Task.Run(() =>
            SendWorkerAsync(channels[i % channels.Length].CreateCallInvoker(), token, batchSize, withEventIds, counters, stop.Token))).ToArray();
        var result = await MeasureAsync("send", counters, warmUp, duration);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Array.ForEach(channels, c => c.Dispose());
        return result;
    }

    // The service's own methods, with requests passed through as prepared bytes (see RawBatchFactory).
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);
    private static readonly Method<byte[], BatchAck> StreamMethod = new(
        MethodType.DuplexStreaming, EventIngest.Descriptor.FullName, "Stream", Raw, Marshallers.Create(a => a.ToByteArray(), BatchAck.Parser.ParseFrom));
    private static readonly Method<byte[], SendEventsResponse> SendMethod = new(
        MethodType.Unary, EventIngest.Descriptor.FullName, "Send", Raw,
        Marshallers.Create(r => r.ToByteArray(), SendEventsResponse.Parser.ParseFrom));

    private static async Task StreamWorkerAsync(
        CallInvoker client, string token, int window, int batchSize, bool withEventIds, Counters counters, CancellationToken stop)
    {
        var events = new RawBatchFactory(withEventIds);
        while (!stop.IsCancellationRequested)
        {
            using var call = client.AsyncDuplexStreamingCall(StreamMethod, null, new CallOptions(Headers(token)));
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
                    await call.RequestStream.WriteAsync(events.StreamBatch(sequence, batchSize));
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
        CallInvoker client, string token, int batchSize, bool withEventIds, Counters counters, CancellationToken stop)
    {
        var events = new RawBatchFactory(withEventIds);
        var options = new CallOptions(Headers(token));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var response = await client.AsyncUnaryCall(SendMethod, null, options, events.SendRequest(batchSize));
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

/// <summary>
/// Encodes batches of realistic product views with unique ids (<c>prefix-000000000042</c>) straight to protobuf bytes:
/// one event is encoded once, then copied with its id digits rewritten, the way wrk sends prepared bodies. The
/// client thus spends its CPU on the wire, not on building objects, and leaves the machine to the server.
/// </summary>
public sealed class RawBatchFactory
{
    private const int Digits = 12;
    private readonly byte[] _event;
    private readonly int _idDigitsAt;
    private long _next;

    /// <param name="withEventIds">
    /// False leaves event_id empty, so the server assigns UUIDv7s and skips dedup, as a client without ids would
    /// (and as the JSON benchmark in docs/benchmarks.md does).
    /// </param>
    public RawBatchFactory(bool withEventIds = true)
    {
        var prefix = Guid.NewGuid().ToString("N")[..12];
        var template = new Event
        {
            EventId = withEventIds ? $"{prefix}-{new string('0', Digits)}" : "",
            EventType = "product_view",
            Timestamp = Timestamp.FromDateTime(DateTime.UtcNow),
            SessionId = prefix,
            DeviceId = prefix,
            ProductId = "8000001234",
            ShoppingChannel = "app",
        };
        _event = template.ToByteArray();
        // event_id is field 1, encoded first: tag, length, then the id text, whose last digits we rewrite.
        _idDigitsAt = withEventIds ? 2 + template.EventId.Length - Digits : -1;
    }

    /// <summary>An encoded <c>EventBatch</c> (sequence = field 1, events = field 2).</summary>
    public byte[] StreamBatch(ulong sequence, int size) => Encode(sequence, size, eventsField: 2);

    /// <summary>An encoded <c>SendEventsRequest</c> (events = field 1).</summary>
    public byte[] SendRequest(int size) => Encode(null, size, eventsField: 1);

    private byte[] Encode(ulong? sequence, int size, int eventsField)
    {
        var buffer = new byte[11 + size * (_event.Length + 6)];
        var at = 0;
        if (sequence is { } value)
        {
            buffer[at++] = 1 << 3; // field 1, varint
            at = WriteVarint(buffer, at, value);
        }
        for (var i = 0; i < size; i++)
        {
            buffer[at++] = (byte)(eventsField << 3 | 2); // length-delimited
            at = WriteVarint(buffer, at, (ulong)_event.Length);
            _event.CopyTo(buffer, at);
            var n = _next++;
            for (var d = Digits - 1; d >= 0 && _idDigitsAt >= 0; d--, n /= 10)
            {
                buffer[at + _idDigitsAt + d] = (byte)('0' + n % 10);
            }
            at += _event.Length;
        }
        return buffer[..at];
    }

    private static int WriteVarint(byte[] buffer, int at, ulong value)
    {
        while (value >= 0x80)
        {
            buffer[at++] = (byte)(value | 0x80);
            value >>= 7;
        }
        buffer[at++] = (byte)value;
        return at;
    }
}
