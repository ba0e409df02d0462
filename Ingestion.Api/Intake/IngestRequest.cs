using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.Queue;
using Beacon.Protos.V1;

namespace Beacon.Ingestion.Intake;

/// <summary>Where a batch came in (the <c>source</c> of <see cref="EnrichedEvent"/>).</summary>
public static class IngestSources
{
    public const string Beacon = "beacon";
    public const string Grpc = "grpc";
    public const string V1Events = "v1-events";
}

/// <summary>
/// One event as a door hands it to <see cref="IngestPath"/>: a translated <see cref="Event"/>, an event read
/// from its protobuf bytes (<see cref="Wire"/>), or the reason the door could not translate it (e.g. a field of the
/// wrong JSON type), which drops it.
/// <paramref name="Received"/>: the event's protobuf bytes as they arrived (gRPC), which the queue then carries
/// as they are, with only the fields the path changed appended; empty when the door translated the event.
/// </summary>
public readonly record struct IncomingEvent(Event? Event, EventRejection? Rejection, ReadOnlyMemory<byte> Received = default, WireEvent? Wire = null)
{
    public static IncomingEvent Of(Event @event, ReadOnlyMemory<byte> received = default) => new(@event, null, received);

    public static IncomingEvent Of(WireEvent wire, ReadOnlyMemory<byte> received) => new(null, null, received, wire);

    /// <summary>The event's type as sent ("" when none), for metrics and the drop log.</summary>
    public string? EventType => Event?.EventType ?? Wire?.EventType;

    /// <summary>The client's event id as sent ("" when none), for the drop log.</summary>
    public string? EventId => Event?.EventId ?? Wire?.EventId;

    public static IncomingEvent Rejected(EventRejection rejection) => new(null, rejection);
}

/// <summary>
/// A batch for one store, already authenticated. <paramref name="Family"/> decides the catalog (Layers for
/// <c>/beacon</c> and gRPC, Alana for <c>/api/v1/events</c>) and the field names used in rejection reasons.
/// A <paramref name="DryRun"/> validates only: nothing is deduplicated, queued or counted as dropped.
/// </summary>
public sealed record IngestRequest(
    StoreToken Token,
    string Source,
    EventFamily Family,
    IReadOnlyList<IncomingEvent> Events,
    ClientInfo Client,
    bool DryRun = false);

/// <summary>
/// The outcome of a batch. <see cref="Accepted"/> counts every event that is durably queued, including
/// <see cref="Duplicates"/> (already queued earlier within the dedup window, so not queued again).
/// </summary>
public sealed record IngestResult(int Accepted, int Duplicates, IReadOnlyList<EventRejection> Rejections)
{
    public int Rejected => Rejections.Count;
}

/// <summary>The queue (Redis) did not acknowledge the batch: nothing of it may be reported as stored (503 / UNAVAILABLE).</summary>
public sealed class QueueUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What a client should wait before retrying.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
}
