using System.Diagnostics;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// THE ingestion path every door calls (JSON <c>/beacon</c>, JSON <c>/api/v1/events</c>, gRPC): the door
/// admits the request with <see cref="Admitter"/> (token, origin, rate limits), translates its payload into
/// <see cref="IncomingEvent"/>s, then <see cref="IngestAsync"/> validates each event against the catalog, enriches, dedups and enqueues. It returns only after Redis acknowledged every accepted
/// event, or throws <see cref="QueueUnavailableException"/> (nothing may then be reported as stored).
/// </summary>
public sealed class IngestPath(
    EventEnricher enricher,
    EventQueue queue,
    DropLog drops,
    IngestionMetrics metrics,
    ILogger<IngestPath> logger)
{
    /// <summary>
    /// Validates, enriches, dedups and enqueues one batch. The door has already checked the batch's shape
    /// (1 to <see cref="IngestionOptions.MaxEventsPerBatch"/> events: 422 / INVALID_ARGUMENT otherwise).
    /// Accepted events are completed in place (event_id, shopping_channel, contextual_data defaults).
    /// </summary>
    /// <remarks>
    /// Takes no cancellation token: a batch that reached this point is ingested even if its client went away
    /// (DESIGN §3). The queue's own timeouts bound the wait, and shutdown waits for it.
    /// </remarks>
    /// <exception cref="QueueUnavailableException">Redis did not acknowledge (503 / UNAVAILABLE).</exception>
    public async Task<IngestResult> IngestAsync(IngestRequest request)
    {
        var events = request.Events;
        // A rehearsal (the start-up warm-up) runs every step but counts in no metric and no drop log.
        var counted = !request.DryRun && !request.Token.Rehearsal;
        List<EventRejection>? rejections = null;
        List<(EventRejection, string?, string?)>? dropped = null;
        var accepted = new List<IncomingEvent>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            var incoming = events[i];
            var rejection = incoming.Rejection?.WithIndex(i)
                ?? (incoming.Wire is { } wire ? EventValidator.Validate(new WireEventFields(wire), request.Family, i)
                    : incoming.Event is null ? new EventRejection(i, RejectionCodes.NotAnObject, "event is missing")
                    : EventValidator.Validate(incoming.Event, request.Family, i));
            if (rejection is null)
            {
                accepted.Add(incoming);
                continue;
            }
            (rejections ??= []).Add(rejection);
            if (counted)
            {
                var type = incoming.EventType;
                metrics.Dropped(request.Source, rejection.Code, type);
                (dropped ??= []).Add((rejection, type, incoming.EventId));
            }
        }
        IReadOnlyList<EventRejection> rejected = rejections ?? (IReadOnlyList<EventRejection>)[];
        if (request.DryRun || accepted.Count == 0)
        {
            if (dropped is not null)
            {
                drops.Record(request.Token.StoreId, request.Source, dropped);
            }
            return new IngestResult(request.DryRun ? accepted.Count : 0, 0, rejected);
        }

        var facts = enricher.Describe(request.Client);
        var layers = request.Family == EventFamily.Layers;
        var receivedAt = DateTimeOffset.UtcNow;
        var receivedAtMilliseconds = receivedAt.ToUnixTimeMilliseconds();
        var clientIds = new string?[accepted.Count];
        var parsed = new Event?[accepted.Count];
        ReceivedEvent[]? asReceived = null;
        for (var i = 0; i < accepted.Count; i++)
        {
            var incoming = accepted[i];
            var e = incoming.Event;
            var clientId = e?.EventId ?? incoming.Wire!.EventId;
            clientIds[i] = clientId.Length > 0 ? clientId : null;
            // A server id is a UUIDv7 of the request's receipt. A received event gets it as bytes in its patch: the
            // id's text would only be encoded again.
            Guid? serverId = clientIds[i] is null ? EventIds.NewUuidV7(receivedAtMilliseconds) : null;
            if (incoming.Received.IsEmpty)
            {
                EventEnricher.Complete(e!, facts, layers);
                if (serverId is { } id)
                {
                    e!.EventId = id.ToString();
                }
                parsed[i] = e;
                continue;
            }
            // What the path changed, appended to the received bytes (the last value of a field wins).
            var channelWasSet = e is not null ? e.ShoppingChannel.Length > 0 : incoming.Wire!.Has(Event.ShoppingChannelFieldNumber);
            var contextWasSet = e is not null ? e.ContextualData is not null : incoming.Wire!.Has(Event.ContextualDataFieldNumber);
            var currency = e?.Currency ?? incoming.Wire!.Currency; // upper-cased by the validator
            (asReceived ??= new ReceivedEvent[accepted.Count])[i] = new ReceivedEvent(incoming.Received, new EventPatch(
                serverId,
                channelWasSet ? null : facts.ShoppingChannel,
                layers && !contextWasSet,
                currency.Length > 0 ? currency : null));
        }
        var envelope = EventEnricher.Envelope(facts, request.Token.StoreId, request.Source, Timestamp.FromDateTimeOffset(receivedAt));
        var batch = EncodedBatch.Encode(parsed, envelope, clientIds, asReceived);

        var started = Stopwatch.GetTimestamp();
        int duplicates;
        try
        {
            duplicates = await (request.Token.Rehearsal ? queue.RehearseAsync(request.Token.StoreId, batch) : queue.EnqueueAsync(request.Token.StoreId, batch));
        }
        catch (QueueUnavailableException ex) when (counted)
        {
            metrics.EnqueueDuration(started, succeeded: false);
            logger.LogWarning(ex.InnerException, "Queue unavailable; {Count} events of store {StoreId} refused", accepted.Count, request.Token.StoreId);
            throw;
        }
        if (!counted)
        {
            return new IngestResult(accepted.Count, duplicates, rejected);
        }
        metrics.EnqueueDuration(started, succeeded: true);
        metrics.Accepted(request.Source, accepted.Count - duplicates);
        metrics.Deduplicated(request.Source, duplicates);
        if (dropped is not null)
        {
            drops.Record(request.Token.StoreId, request.Source, dropped);
        }
        return new IngestResult(accepted.Count, duplicates, rejected);
    }
}
