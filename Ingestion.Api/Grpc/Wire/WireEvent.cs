using System.Collections.Frozen;
using System.Text;
using System.Text.Unicode;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf;
using ProtoFieldType = Google.Protobuf.Reflection.FieldType;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// A <c>beacon.v1.Event</c> read straight from the bytes it arrived in, as the gRPC door hands it to the ingestion
/// path: what <see cref="EventValidator"/> and the path need (the type, each string's length, presence, the client
/// event_id, revenue and currency) without building the message, and the bytes themselves, which go to the queue as
/// they are. Parsing every event into an <see cref="Event"/> was a third of the gRPC door's CPU, most of it
/// allocations (docs/benchmarks-grpc.md).
/// </summary>
public sealed class WireEvent : IncomingEvent, IEventFields
{
    // Checked: a field the reader does not look into (a Struct), which protobuf checks.
    private enum Kind : byte { Unknown, String, Strings, Position, Timestamp, Checked }

    private enum Outcome { Read, NeedsProtobuf, Unreadable }

    // protobuf's recursion limit: groups nested deeper are refused by its parser anyway.
    private const int MaxGroupDepth = 100;

    private static readonly Kind[] Kinds = KindsByFieldNumber();

    // Catalog type names, so an event's type costs no string of its own.
    private static readonly FrozenSet<string> TypeNames = EventCatalog.Names.ToFrozenSet(StringComparer.Ordinal);
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> TypeNamesBySpan = TypeNames.GetAlternateLookup<ReadOnlySpan<char>>();

    private readonly ReadOnlyMemory<byte> _bytes;

    // Per field number: a string's UTF-16 length (its last value's, as protobuf keeps the last), 1 for a present
    // message or position, the number of product_ids; 0 when absent.
    private readonly int[] _values = new int[Kinds.Length];

    private string _type = "";
    private string _id = "";
    private string _currency = "";
    private bool _currencyChanged;

    private WireEvent(ReadOnlyMemory<byte> bytes)
    {
        _bytes = bytes;
    }

    public override string EventType => _type;

    public override string EventId => _id;

    public override bool HasShoppingChannel => _values[Event.ShoppingChannelFieldNumber] > 0;

    public override bool HasContextualData => _values[Event.ContextualDataFieldNumber] > 0;

    public bool HasPosition { get; private set; }

    public uint Position { get; private set; }

    public string Revenue { get; private set; } = "";

    /// <summary>The currency code; set by the validator (upper-cased), it is written again after the bytes.</summary>
    public string Currency
    {
        get => _currency;
        set
        {
            _currencyChanged |= !string.Equals(_currency, value, StringComparison.Ordinal);
            _currency = value;
        }
    }

    public bool HasInvalidProductId { get; private set; }

    public bool IsPresent(EventRequirement requirement) => _values[requirement.FieldNumber] > 0;

    public int LengthOf(EventStringFields.Accessor field) => _values[field.FieldNumber];

    public override EventRejection? Validate(EventFamily family, int index) => EventValidator.Validate(this, family, index);

    public override int CalculateSize() =>
        _bytes.Length + (_currencyChanged ? ProtoWriter.StringSize(Event.CurrencyFieldNumber, _currency) : 0);

    public override void WriteTo(Span<byte> destination)
    {
        _bytes.Span.CopyTo(destination);
        if (_currencyChanged)
        {
            ProtoWriter.WriteString(destination, _bytes.Length, Event.CurrencyFieldNumber, _currency);
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
        var outcome = e.ReadFields(bytes.Span);
        if (outcome == Outcome.Read)
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
        if (outcome == Outcome.NeedsProtobuf)
        {
            return e;
        }
        var encoded = new WireEvent(parsed.ToByteArray());
        return encoded.ReadFields(encoded._bytes.Span) == Outcome.Unreadable
            ? Unreadable(RejectionCodes.NotAnObject, "event is not a valid beacon.v1.Event message: its fields could not be read")
            : encoded;
    }

    private static WireEvent Unreadable(string code, string reason) => new(ReadOnlyMemory<byte>.Empty) { Rejection = new EventRejection(0, code, reason) };

    private Outcome ReadFields(ReadOnlySpan<byte> bytes)
    {
        var outcome = Outcome.Read;
        ReadOnlySpan<byte> type = default, id = default, revenue = default, currency = default;
        var position = 0;
        while (position < bytes.Length)
        {
            if (!ProtoWire.TryReadTag(bytes, ref position, out var number, out var wireType))
            {
                return Outcome.Unreadable;
            }
            if (wireType == WireFormat.WireType.StartGroup)
            {
                // Protobuf keeps a group as an unknown field; each of its levels counts against the nesting.
                if (!ProtoWire.TrySkipGroup(bytes, ref position, number, MaxGroupDepth))
                {
                    return Outcome.Unreadable;
                }
                outcome = Outcome.NeedsProtobuf;
                continue;
            }
            if (!ProtoWire.TryReadValue(bytes, ref position, wireType, out var value, out var field))
            {
                return Outcome.Unreadable;
            }
            var kind = number < Kinds.Length ? Kinds[number] : Kind.Unknown;
            if (kind == Kind.Checked)
            {
                // Present once a record of it is (protobuf merges them); what it holds, protobuf checks.
                outcome = Outcome.NeedsProtobuf;
                if (wireType == WireFormat.WireType.LengthDelimited)
                {
                    _values[number] = 1;
                }
            }
            else if (wireType == WireFormat.WireType.Varint && kind == Kind.Position)
            {
                HasPosition = true;
                Position = (uint)value; // protobuf keeps the low 32 bits of a longer varint
                _values[number] = 1;
            }
            else if (wireType == WireFormat.WireType.LengthDelimited)
            {
                switch (kind)
                {
                    case Kind.String:
                        if ((_values[number] = CharCount(field)) < 0)
                        {
                            return Outcome.Unreadable;
                        }
                        switch (number)
                        {
                            case Event.EventTypeFieldNumber: type = field; break;
                            case Event.EventIdFieldNumber: id = field; break;
                            case Event.RevenueFieldNumber: revenue = field; break;
                            case Event.CurrencyFieldNumber: currency = field; break;
                        }
                        break;
                    case Kind.Strings:
                        _values[number]++;
                        var chars = CharCount(field);
                        if (chars < 0)
                        {
                            return Outcome.Unreadable;
                        }
                        HasInvalidProductId |= number == Event.ProductIdsFieldNumber && (chars == 0 || chars > EventValidator.MaxProductIdLength);
                        break;
                    case Kind.Timestamp:
                        // Only scalars inside are read here (protobuf merges repeated records); anything else protobuf checks.
                        _values[number] = 1;
                        if (!ProtoWire.IsWellFormed(field))
                        {
                            outcome = Outcome.NeedsProtobuf;
                        }
                        break;
                }
            }
            // Anything else (an unknown field, a known one with another wire type) protobuf keeps as unknown: skipped.
        }
        _type = TypeName(type);
        _id = Text(id);
        Revenue = Text(revenue);
        _currency = Text(currency);
        return outcome;
    }

    private static string TypeName(ReadOnlySpan<byte> utf8)
    {
        Span<char> chars = stackalloc char[64];
        if (Encoding.UTF8.GetMaxCharCount(utf8.Length) <= chars.Length
            && TypeNamesBySpan.TryGetValue(chars[..Encoding.UTF8.GetChars(utf8, chars)], out var name))
        {
            return name;
        }
        return Text(utf8);
    }

    // The UTF-16 length protobuf's string would have; -1 when the bytes are not UTF-8 (protobuf refuses those).
    private static int CharCount(ReadOnlySpan<byte> utf8) =>
        Ascii.IsValid(utf8) ? utf8.Length : Utf8.IsValid(utf8) ? Encoding.UTF8.GetCharCount(utf8) : -1;

    private static string Text(ReadOnlySpan<byte> utf8) => utf8.IsEmpty ? "" : Encoding.UTF8.GetString(utf8);

    // From the generated descriptor, so a field added to the .proto is read by its type without a change here.
    private static Kind[] KindsByFieldNumber()
    {
        var fields = Event.Descriptor.Fields.InFieldNumberOrder();
        var kinds = new Kind[fields[^1].FieldNumber + 1];
        foreach (var field in fields)
        {
            kinds[field.FieldNumber] = field switch
            {
                { FieldType: ProtoFieldType.String, IsRepeated: false } => Kind.String,
                { FieldType: ProtoFieldType.String, IsRepeated: true } => Kind.Strings,
                { FieldNumber: Event.PositionFieldNumber } => Kind.Position,
                { FieldType: ProtoFieldType.Message } when field.MessageType.FullName == Google.Protobuf.WellKnownTypes.Timestamp.Descriptor.FullName => Kind.Timestamp,
                _ => Kind.Checked,
            };
        }
        return kinds;
    }
}
