using Beacon.Core.Catalog;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// A <c>beacon.v1.Event</c> as the gRPC door hands it to the ingestion path: the bytes it arrived in, which go to the
/// queue as they are, and its fields read from them without building the message (<see cref="WireFields"/>).
/// The door so allocates no message per event (what that saves: docs/benchmarks.md).
/// </summary>
public sealed class WireEvent : IncomingEvent
{
    private readonly ReadOnlyMemory<byte> _bytes;
    private WireFields _fields = new();

    private WireEvent(ReadOnlyMemory<byte> bytes)
    {
        _bytes = bytes;
    }

    public override string EventType => _fields.EventType;

    public override string EventId => _fields.EventId;

    public override bool HasShoppingChannel => _fields.Has(Event.ShoppingChannelFieldNumber);

    public override bool HasContextualData => _fields.Has(Event.ContextualDataFieldNumber);

    public override EventRejection? Validate(EventFamily family, int index) => EventValidator.Validate(ref _fields, family, index);

    // A currency the validator normalized is written again after the bytes: protobuf reads a field's last value.
    public override int CalculateSize() =>
        _bytes.Length + (_fields.CurrencyChanged ? ProtoWriter.StringSize(Event.CurrencyFieldNumber, _fields.Currency) : 0);

    public override void WriteTo(Span<byte> destination)
    {
        _bytes.Span.CopyTo(destination);
        if (_fields.CurrencyChanged)
        {
            ProtoWriter.WriteString(destination, _bytes.Length, Event.CurrencyFieldNumber, _fields.Currency);
        }
    }

    /// <summary>
    /// Reads one event of a request from its bytes; bytes that are no event give an event with only its
    /// <see cref="IncomingEvent.Rejection"/> (that event alone is dropped, not the batch around it).
    /// </summary>
    /// <remarks>
    /// What the reader does not check itself — a <c>Struct</c> (<c>contextual_data</c>, <c>metadata</c>), a group,
    /// a timestamp holding more than scalars, bytes it cannot read — protobuf does, within the nesting the queue can
    /// hold (<see cref="WireNesting.Parse"/>), after the Struct values are taken from the request's budget
    /// <paramref name="structValues"/> (<see cref="WireNesting.Spend"/>). Should protobuf take bytes the reader
    /// cannot, the event is read from protobuf's own encoding of it instead.
    /// </remarks>
    public static WireEvent Read(ReadOnlyMemory<byte> bytes, ref int structValues)
    {
        var e = new WireEvent(bytes);
        var outcome = e._fields.Read(bytes.Span);
        if (outcome == WireFields.Outcome.Read)
        {
            return e;
        }
        if (!WireNesting.Spend(bytes.Span, ref structValues))
        {
            return Unreadable(RejectionCodes.InvalidField, "field 'contextual_data' or 'metadata' " + EventNesting.OverBudget);
        }
        Event parsed;
        try
        {
            parsed = WireNesting.Parse(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return Unreadable(RejectionCodes.NotAnObject, $"event is not a valid beacon.v1.Event message: {ex.Message}");
        }
        if (outcome == WireFields.Outcome.NeedsProtobuf)
        {
            return e;
        }
        var encoded = new WireEvent(parsed.ToByteArray());
        return encoded._fields.Read(encoded._bytes.Span) == WireFields.Outcome.Unreadable
            ? Unreadable(RejectionCodes.NotAnObject, "event is not a valid beacon.v1.Event message: its fields could not be read")
            : encoded;
    }

    private static WireEvent Unreadable(string code, string reason) => new(ReadOnlyMemory<byte>.Empty) { Rejection = new EventRejection(0, code, reason) };
}
