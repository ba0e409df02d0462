using System.Diagnostics;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Queueing;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// THE ingestion path every door calls (JSON <c>/beacon</c>, JSON <c>/api/v1/events</c>, gRPC): the door
/// admits the request with <see cref="Admission.Admitter"/> (token, origin, rate limits) and hands over its events as
/// <see cref="IncomingEvent"/>s, then <see cref="IngestAsync"/> validates, enriches, encodes and enqueues them, the
/// same steps whatever the door. It returns only after Redis acknowledged every accepted event, or throws
/// <see cref="QueueUnavailableException"/> (nothing may then be reported as stored).
/// </summary>
public sealed class IngestPath(
    EventEnricher enricher,
    EventQueue queue,
    DropLog drops,
    IngestionMetrics metrics,
    ILogger<IngestPath> logger)
{
    /// <summary>
    /// Validates, enriches, encodes and enqueues (with dedup) one batch. The door has already checked the batch's
    /// shape (1 to <see cref="IngestionOptions.MaxEventsPerBatch"/> events: 422 / INVALID_ARGUMENT otherwise).
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
            var e = events[i];
            var rejection = e.Rejection?.WithIndex(i) ?? e.Validate(request.Family, i);
            if (rejection is null)
            {
                accepted.Add(e);
                continue;
            }
            (rejections ??= []).Add(rejection);
            if (counted)
            {
                metrics.Dropped(request.Source, rejection.Code, e.EventType);
                (dropped ??= []).Add((rejection, e.EventType, e.EventId));
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
        var receivedAt = DateTimeOffset.UtcNow;
        var receivedAtMilliseconds = receivedAt.ToUnixTimeMilliseconds();
        var defaults = new EventDefaults[accepted.Count];
        for (var i = 0; i < accepted.Count; i++)
        {
            defaults[i] = EventEnricher.DefaultsOf(accepted[i], facts, request.Family, receivedAtMilliseconds);
        }
        var envelope = EventEnricher.Envelope(facts, request.Token.StoreId, request.Source, Timestamp.FromDateTimeOffset(receivedAt));
        var batch = EncodedBatch.Encode(accepted, defaults, envelope);

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
