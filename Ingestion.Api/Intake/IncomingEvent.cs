using Beacon.Core.Catalog;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// One event as a door hands it to <see cref="IngestPath"/>, whatever it arrived as: the JSON doors supply a parsed
/// event (<c>Apis/Json/ParsedEvent</c>), the gRPC door the event read from its protobuf bytes
/// (<c>Grpc/Wire/WireEvent</c>). The path validates, enriches, encodes and enqueues through this alone.
/// </summary>
public abstract class IncomingEvent
{
    /// <summary>
    /// Why the door already knows the event must be dropped (a field of the wrong JSON type, bytes that are no
    /// event), or null. Such an event is not validated; its other members may then be empty.
    /// </summary>
    public EventRejection? Rejection { get; init; }

    /// <summary>The event's type as sent ("" when none), for metrics and the drop log.</summary>
    public abstract string EventType { get; }

    /// <summary>The client's event_id as sent ("" when none): dedup, the drop log, and whether the server assigns one.</summary>
    public abstract string EventId { get; }

    public abstract bool HasShoppingChannel { get; }

    public abstract bool HasContextualData { get; }

    /// <summary>
    /// Checks the event against the catalog (<see cref="EventValidator"/>), which may normalize a value in place
    /// (the currency's case): what <see cref="WriteTo"/> writes afterwards carries it.
    /// </summary>
    public abstract EventRejection? Validate(EventFamily family, int index);

    /// <summary>The length of the event's <c>beacon.v1.Event</c> encoding, as <see cref="WriteTo"/> writes it.</summary>
    public abstract int CalculateSize();

    /// <summary>Writes the event's <c>beacon.v1.Event</c> encoding into exactly <see cref="CalculateSize"/> bytes.</summary>
    public abstract void WriteTo(Span<byte> destination);
}
