using Beacon.Protos.V1;
using Grpc.Core;

namespace Beacon.GrpcClient;

/// <summary>How <see cref="EventStreamSender"/> behaves; the defaults suit a phone.</summary>
public sealed record SenderOptions
{
    /// <summary>Events per batch (the server accepts 1-100).</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>Batches sent but not yet acked. More than one hides the round trip on slow mobile links.</summary>
    public int Window { get; init; } = 8;

    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Sent with every call; the server derives device type, OS, browser and channel from these.</summary>
    public string? UserAgent { get; init; }
    public string? RequestedWith { get; init; }
}

/// <summary>What the sender has seen so far.</summary>
public sealed class SenderStatistics
{
    private long _stored, _duplicates, _rejected, _reconnects;

    /// <summary>Events the server stored for the first time.</summary>
    public long Stored => Interlocked.Read(ref _stored);
    /// <summary>Events acked as already stored (their first ack was lost with a dropped connection).</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);
    /// <summary>Events the server refused for good (invalid against the catalog); resending cannot help.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);
    public long Reconnects => Interlocked.Read(ref _reconnects);

    internal void Count(BatchAck ack)
    {
        Interlocked.Add(ref _stored, ack.Accepted - ack.Duplicates);
        Interlocked.Add(ref _duplicates, ack.Duplicates);
        Interlocked.Add(ref _rejected, ack.Rejected);
    }

    internal void Reconnected() => Interlocked.Increment(ref _reconnects);
}

/// <summary>
/// The reference way for an app to send events: one long-lived <c>EventIngest.Stream</c> fed from an
/// <see cref="OfflineEventBuffer"/>. Each batch carries a sequence number; the ack for it (always in order)
/// removes exactly that batch from the buffer. When the connection drops, every batch not yet acked goes back
/// to the buffer and is sent again on a new stream after a backoff; the server's dedup by event id turns the
/// ones that had in fact been stored into duplicates, so nothing is lost and nothing is stored twice.
/// </summary>
public sealed class EventStreamSender(EventIngest.EventIngestClient client, string token, OfflineEventBuffer buffer, SenderOptions? options = null)
{
    private readonly SenderOptions _options = options ?? new SenderOptions();
    private ulong _sequence;
    private bool _acked;

    public SenderStatistics Statistics { get; } = new();

    /// <summary>Optional log (the sample writes to the console).</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;

    /// <summary>
    /// Sends until <paramref name="stoppingToken"/> is cancelled (the app goes to the background). Throws only for
    /// problems a retry cannot fix: a missing, unknown or revoked token, or a malformed batch.
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var delay = _options.FirstRetryDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunStreamAsync(stoppingToken);
            }
            catch (RpcException ex) when (IsPermanent(ex.StatusCode))
            {
                Log.WriteLine($"Giving up: {ex.StatusCode} {ex.Status.Detail}");
                throw;
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException && stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex)
            {
                if (_acked)
                {
                    // The stream worked for a while: this is a new outage, start the backoff over.
                    delay = _options.FirstRetryDelay;
                    _acked = false;
                }
                // UNAVAILABLE (queue down, server restarting), RESOURCE_EXHAUSTED (rate limit), a dropped connection...
                // The server may say how long to wait; else back off exponentially with jitter so that a fleet of
                // apps does not reconnect in lockstep.
                var wait = PushbackOf(ex) ?? delay * (0.8 + Random.Shared.NextDouble() * 0.4);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
                Statistics.Reconnected();
                Log.WriteLine($"Stream ended ({ex.StatusCode}: {ex.Status.Detail}); {buffer.Count} events kept, retrying in {wait.TotalSeconds:0.0} s");
                try
                {
                    await Task.Delay(wait, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One stream: a writer sends batches while the window allows, a reader applies acks.</summary>
    private async Task RunStreamAsync(CancellationToken stoppingToken)
    {
        var headers = new Metadata { { "x-storefront-access-token", token } };
        if (_options.UserAgent is { } userAgent)
        {
            headers.Add("user-agent", userAgent);
        }
        if (_options.RequestedWith is { } requestedWith)
        {
            headers.Add("x-requested-with", requestedWith);
        }

        using var connection = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var call = client.Stream(headers, cancellationToken: connection.Token);
        // Sent, not yet acked, by sequence. Acks come in order, so the oldest is always the next one acked.
        var unacked = new Queue<(ulong Sequence, List<Event> Events)>();
        using var window = new SemaphoreSlim(_options.Window, _options.Window);

        var writing = Task.Run(async () =>
        {
            while (true)
            {
                await window.WaitAsync(connection.Token);
                var events = await buffer.TakeAsync(_options.BatchSize, connection.Token);
                var batch = new EventBatch { Sequence = ++_sequence, Events = { events } };
                lock (unacked)
                {
                    unacked.Enqueue((batch.Sequence, events));
                }
                await call.RequestStream.WriteAsync(batch, connection.Token);
            }
        }, CancellationToken.None);

        try
        {
            await foreach (var ack in call.ResponseStream.ReadAllAsync(connection.Token))
            {
                List<Event> events;
                lock (unacked)
                {
                    var (sequence, sent) = unacked.Dequeue();
                    if (sequence != ack.Sequence)
                    {
                        throw new InvalidOperationException($"Ack {ack.Sequence} arrived while {sequence} was the oldest batch in flight.");
                    }
                    events = sent;
                }
                foreach (var rejection in ack.Rejections)
                {
                    Log.WriteLine($"Dropped {events[(int)rejection.Index].EventType} {events[(int)rejection.Index].EventId}: {rejection.Reason}");
                }
                Statistics.Count(ack);
                _acked = true;
                buffer.Acknowledge(events);
                window.Release();
            }
            // The server ended the stream without an error although we never completed it: treat as a drop.
            throw new RpcException(new Status(StatusCode.Unavailable, "The server closed the stream."));
        }
        finally
        {
            await connection.CancelAsync();
            try
            {
                await writing;
            }
            catch (Exception ex) when (ex is OperationCanceledException or RpcException or InvalidOperationException)
            {
                // The writer stops with the stream; its batch (if any) is in `unacked` and goes back below.
            }
            lock (unacked)
            {
                foreach (var (_, events) in unacked.Reverse())
                {
                    buffer.Return(events);
                }
            }
        }
    }

    private static bool IsPermanent(StatusCode code) =>
        code is StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.Unimplemented;

    private static TimeSpan? PushbackOf(RpcException ex) =>
        long.TryParse(ex.Trailers.GetValue("grpc-retry-pushback-ms"), out var milliseconds) && milliseconds >= 0
            ? TimeSpan.FromMilliseconds(milliseconds)
            : null;
}
