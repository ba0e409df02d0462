using System.Threading.Channels;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Readiness;
using Beacon.Protos.V1;
using Google.Protobuf.Collections;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Grpc;

/// <summary>
/// The gRPC door (<c>beacon.v1.EventIngest</c>): admits a call from its metadata through the one <see cref="Admitter"/>
/// (and, on a stream, each batch again: a revoked token or a new limit reaches an open stream), then hands each
/// batch to the one <see cref="IngestPath"/> the JSON doors use and translates the outcome into
/// acks and status codes. Nothing is validated, enriched or queued here.
/// </summary>
/// <remarks>
/// Bound by <see cref="EventIngestBinding"/> rather than the generated base class, so requests arrive with their
/// events' bytes (<see cref="Received{T}"/>). Not sealed: gRPC binds to virtual methods declared here.
/// </remarks>
[BindServiceMethod(typeof(EventIngestBinding), nameof(EventIngestBinding.BindService))]
public class EventIngestService(
    IngestPath pipeline,
    ClientInfoReader clientInfo,
    Admitter admitter,
    IOptions<IngestionOptions> ingestionOptions,
    IOptions<GrpcIngestOptions> grpcOptions,
    ILogger<EventIngestService> logger)
{
    public const string TokenMetadataKey = "x-storefront-access-token";

    // Standard gRPC trailer telling a retrying client how long to back off.
    private const string RetryPushbackKey = "grpc-retry-pushback-ms";

    private static readonly WriteOptions BufferedAck = new(WriteFlags.BufferHint);

    private readonly int _maxEvents = ingestionOptions.Value.MaxEventsPerBatch;

    public virtual async Task<SendEventsResponse> Send(Received<SendEventsRequest> received, ServerCallContext context)
    {
        // The message has been read: from here on the call is ingested even if the client cancels it (DESIGN §3).
        var caller = await AdmitCallAsync(context, DoorLimits.Storefront, CancellationToken.None);
        if (ShapeError(received.EventCount) is { } problem)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }
        var result = await IngestAsync(caller, Task.FromResult(caller.Token), received);
        var response = new SendEventsResponse
        {
            Accepted = (uint)result.Accepted,
            Rejected = (uint)result.Rejected,
            Duplicates = (uint)result.Duplicates,
        };
        AddRejections(response.Rejections, result);
        return response;
    }

    /// <summary>
    /// Reads batches and appends up to <see cref="GrpcIngestOptions.MaxBatchesInFlight"/> of them to the queue at
    /// once, while a second loop writes one ack per batch in arrival order as soon as that batch (and every batch
    /// before it) is durably queued. A failing batch ends the call: the batches acked before it are stored, the
    /// rest must be sent again (event ids make that safe). Each batch is admitted again before it is ingested (token
    /// from the cache that config changes refresh, and the rate limits), so a revoked token's next batch ends the call
    /// UNAUTHENTICATED with nothing of it queued.
    /// </summary>
    public virtual async Task Stream(IAsyncStreamReader<Received<EventBatch>> requestStream, IServerStreamWriter<BatchAck> responseStream, ServerCallContext context)
    {
        // Nothing has been read yet: a call cancelled now has nothing to ingest. The call itself is not counted: each of
        // its batches is.
        var caller = await AdmitCallAsync(context, null, context.CancellationToken);
        var inFlight = Channel.CreateBounded<PendingBatch>(new BoundedChannelOptions(Math.Max(1, grpcOptions.Value.MaxBatchesInFlight))
        {
            SingleReader = true,
            SingleWriter = true,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var acking = WriteAcksAsync(inFlight.Reader, responseStream, stop);
        var batches = 0L;
        // Batches are admitted one after another in arrival order (one limiter round trip each, overlapped with the
        // ingestion of the batches before): a refused batch refuses every batch after it, so nothing past it is queued.
        var admitted = Task.FromResult(caller.Token);
        try
        {
            await foreach (var received in requestStream.ReadAllAsync(stop.Token))
            {
                var batch = received.Message;
                if (ShapeError(received.EventCount) is { } problem)
                {
                    // Ack what came before, so the app knows exactly which batches are stored.
                    inFlight.Writer.Complete();
                    await acking;
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"Batch {batch.Sequence}: {problem}"));
                }
                batches++;
                // Validation, enrichment and encoding run on the thread pool, so the next batch is read meanwhile:
                // one stream can use every core, and its batches meet other calls' in the same group commit.
                // A batch that has been read is ingested even if the call ends before its ack (DESIGN §3).
                admitted = ReadmitAfterAsync(admitted, caller);
                var admission = admitted;
                var pending = new PendingBatch(batch.Sequence, Task.Run(() => IngestAsync(caller, admission, received)));
                try
                {
                    await inFlight.Writer.WriteAsync(pending, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    Observe(pending.Ingesting);
                    throw;
                }
            }
            inFlight.Writer.Complete();
            await acking;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            // The ack loop stopped the reader because a batch failed: its RpcException is the call's status.
            await acking;
            throw;
        }
        finally
        {
            inFlight.Writer.TryComplete();
            logger.LogDebug("Stream of store {StoreId} ended after {Batches} batches", caller.Token.StoreId, batches);
        }
    }

    private async Task WriteAcksAsync(ChannelReader<PendingBatch> pending, IServerStreamWriter<BatchAck> acks, CancellationTokenSource stop)
    {
        try
        {
            await foreach (var batch in pending.ReadAllAsync(stop.Token))
            {
                var result = await batch.Ingesting;
                var ack = new BatchAck
                {
                    Sequence = batch.Sequence,
                    Accepted = (uint)result.Accepted,
                    Rejected = (uint)result.Rejected,
                    Duplicates = (uint)result.Duplicates,
                };
                AddRejections(ack.Rejections, result);
                // When the next batch is already stored its ack follows at once: buffer this one so both leave in
                // one flush. The last ack of a run is always flushed, so nobody waits for a buffered ack.
                acks.WriteOptions = pending.TryPeek(out var next) && next.Ingesting.IsCompletedSuccessfully ? BufferedAck : null;
                await acks.WriteAsync(ack, stop.Token);
            }
        }
        catch
        {
            await stop.CancelAsync();
            // Batches still in flight may finish on their own; nobody waits for them, so observe their outcome.
            while (pending.TryRead(out var orphan))
            {
                Observe(orphan.Ingesting);
            }
            throw;
        }
    }

    private async Task<Caller> AdmitCallAsync(ServerCallContext context, DoorLimits? limits, CancellationToken cancellationToken)
    {
        var token = context.RequestHeaders.GetValue(TokenMetadataKey);
        if (string.IsNullOrEmpty(token))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"Missing access token: send it in the '{TokenMetadataKey}' metadata."));
        }
        var httpContext = context.GetHttpContext();
        var origin = context.RequestHeaders.GetValue("origin");
        var client = clientInfo.Read(httpContext);
        var storeToken = await AdmitAsync(token, origin, client, limits, cancellationToken);
        if (storeToken.Rehearsal)
        {
            IngestionWarmUp.ExcludeFromMetrics(httpContext);
        }
        return new Caller(token, origin, client, storeToken);
    }

    /// <exception cref="RpcException">Not admitted: the status the verdict stands for.</exception>
    private async Task<StoreToken> AdmitAsync(string token, string? origin, ClientInfo client, DoorLimits? limits, CancellationToken cancellationToken)
    {
        var admission = await admitter.AdmitAsync(token, origin, client.IpAddress, limits, cancellationToken);
        return admission.Verdict switch
        {
            AdmissionVerdict.Admitted => admission.Token!,
            AdmissionVerdict.Unauthenticated => throw new RpcException(new Status(StatusCode.Unauthenticated, "Unknown or revoked access token.")),
            AdmissionVerdict.OriginRefused => throw new RpcException(new Status(StatusCode.PermissionDenied, "Origin not allowed for this token.")),
            AdmissionVerdict.Limited => throw new RpcException(
                new Status(StatusCode.ResourceExhausted, $"Too many calls for this token; retry in {Math.Ceiling(admission.RetryAfter.TotalSeconds):0} s."),
                new Metadata { { RetryPushbackKey, ((long)admission.RetryAfter.TotalMilliseconds).ToString() } }),
            AdmissionVerdict.TokenStoreUnavailable => throw Unavailable("The token store is unavailable; retry shortly."),
            _ => throw Unavailable("The event queue is unavailable; nothing was stored, retry shortly."),
        };
    }

    // A batch that has been read is admitted whatever happens to the call meanwhile (DESIGN §3).
    private async Task<StoreToken> ReadmitAfterAsync(Task<StoreToken> previous, Caller caller)
    {
        await previous;
        return await AdmitAsync(caller.RawToken, caller.Origin, caller.Client, DoorLimits.Storefront, CancellationToken.None);
    }

    private async Task<IngestResult> IngestAsync<T>(Caller caller, Task<StoreToken> admission, Received<T> received)
        where T : Google.Protobuf.IMessage<T>
    {
        try
        {
            var token = await admission;
            var eventBytes = received.EventBytes;
            var incoming = new IncomingEvent[received.EventCount];
            var structValues = EventNesting.MaxStructValues;
            for (var i = 0; i < incoming.Length; i++)
            {
                incoming[i] = WireEvent.Read(eventBytes[i], ref structValues);
            }
            return await pipeline.IngestAsync(
                new IngestRequest(token, IngestSources.Grpc, EventFamily.Layers, incoming, caller.Client));
        }
        catch (QueueUnavailableException)
        {
            throw Unavailable("The event queue is unavailable; nothing of this batch was stored, send it again shortly.");
        }
        finally
        {
            // By now the path has copied the received bytes into the queue's own buffer (or failed): done with them.
            received.Release();
        }
    }

    // A batch nobody will ack may still fail; its exception is expected and must not surface as unobserved.
    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private string? ShapeError(int count) =>
        count == 0 ? $"The batch has no events; send 1 to {_maxEvents}."
        : count > _maxEvents ? $"The batch has {count} events; send at most {_maxEvents} per batch."
        : null;

    private static void AddRejections(RepeatedField<Rejection> rejections, IngestResult result)
    {
        foreach (var rejection in result.Rejections)
        {
            rejections.Add(new Rejection { Index = (uint)rejection.Index, Reason = rejection.Reason });
        }
    }

    private static RpcException Unavailable(string message) => new(
        new Status(StatusCode.Unavailable, message),
        new Metadata { { RetryPushbackKey, ((long)QueueUnavailableException.RetryAfter.TotalMilliseconds).ToString() } });

    /// <summary>The call's credentials as sent (each stream batch is admitted with them again) and the token admitted first.</summary>
    private sealed record Caller(string RawToken, string? Origin, ClientInfo Client, StoreToken Token);

    private readonly record struct PendingBatch(ulong Sequence, Task<IngestResult> Ingesting);
}
