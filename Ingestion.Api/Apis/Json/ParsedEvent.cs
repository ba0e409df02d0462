using Beacon.Core.Catalog;
using Beacon.Ingestion.Intake;
using Beacon.Protos.V1;
using Google.Protobuf;

namespace Beacon.Ingestion.Apis.Json;

/// <summary>An event of a JSON door, read into a protobuf <see cref="Event"/> (<see cref="EventJsonReader"/>), as the ingestion path takes it.</summary>
public sealed class ParsedEvent(Event e) : IncomingEvent
{
    /// <summary>What stands at an index of <c>"events"</c> that is no event object: only its rejection.</summary>
    public static ParsedEvent Unreadable(EventRejection rejection) => new(new Event()) { Rejection = rejection };

    public override string EventType => e.EventType;

    public override string EventId => e.EventId;

    public override bool HasShoppingChannel => e.ShoppingChannel.Length > 0;

    public override bool HasContextualData => e.ContextualData is not null;

    public override EventRejection? Validate(EventFamily family, int index) => EventValidator.Validate(e, family, index);

    public override int CalculateSize() => e.CalculateSize();

    public override void WriteTo(Span<byte> destination) => e.WriteTo(destination);
}
