using System.Collections.Frozen;
using System.Text;
using System.Text.Unicode;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf;
using ProtoFieldType = Google.Protobuf.Reflection.FieldType;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// A <c>beacon.v1.Event</c> read straight from the bytes it arrived in, for the gRPC door: what
/// <see cref="EventValidator"/> and the ingestion path need (the type, each string's length, presence, the client
/// event_id, revenue and currency), without building the message. The event's bytes go to the queue as they are,
/// so the other values are never needed as strings. Parsing every event into an <see cref="Event"/> was a third of
/// the gRPC door's CPU, most of it allocations (docs/benchmarks-grpc.md).
/// <para>
/// <see cref="Read"/> gives up (null) on whatever it does not read the way protobuf does: a <c>Struct</c>
/// (<c>contextual_data</c>, <c>metadata</c>), groups, bytes that are not well-formed, a string that is not UTF-8. The door then parses that one
/// event with protobuf, which either builds it or says why the bytes are no event.
/// </para>
/// </summary>
public sealed class WireEvent
{
    // ParseInstead: a field WireEvent does not read itself (a Struct), so protobuf parses the event.
    private enum Kind : byte { Unknown, String, Strings, Position, Timestamp, ParseInstead }

    private static readonly Kind[] Kinds = KindsByFieldNumber();

    // Catalog type names, so an event's type costs no string of its own.
    private static readonly FrozenSet<string> TypeNames = EventCatalog.Names.ToFrozenSet(StringComparer.Ordinal);
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> TypeNamesBySpan = TypeNames.GetAlternateLookup<ReadOnlySpan<char>>();

    // Per field number: a string's UTF-16 length (its last value's, as protobuf keeps the last), 1 for a present
    // message or position, the number of product_ids; 0 when absent.
    private readonly int[] _values = new int[Kinds.Length];

    private WireEvent()
    {
    }

    public string EventType { get; private set; } = "";

    /// <summary>The client's event_id, or "" when it sent none.</summary>
    public string EventId { get; private set; } = "";

    public bool HasPosition { get; private set; }

    public uint Position { get; private set; }

    public string Revenue { get; private set; } = "";

    /// <summary>The currency code (upper-cased by the validator).</summary>
    public string Currency { get; set; } = "";

    public bool HasInvalidProductId { get; private set; }

    public bool Has(int fieldNumber) => _values[fieldNumber] > 0;

    public int ValueOf(int fieldNumber) => _values[fieldNumber];

    /// <summary>Reads an event's bytes; null when they need protobuf's own parser (see the class remarks).</summary>
    public static WireEvent? Read(ReadOnlySpan<byte> bytes)
    {
        var e = new WireEvent();
        ReadOnlySpan<byte> type = default, id = default, revenue = default, currency = default;
        var position = 0;
        while (position < bytes.Length)
        {
            if (!ProtoWire.TryReadTag(bytes, ref position, out var number, out var wireType)
                || !ProtoWire.TryReadValue(bytes, ref position, wireType, out var value, out var field))
            {
                return null;
            }
            var kind = number < Kinds.Length ? Kinds[number] : Kind.Unknown;
            if (kind == Kind.ParseInstead)
            {
                return null;
            }
            if (wireType == WireFormat.WireType.Varint && kind == Kind.Position)
            {
                e.HasPosition = true;
                e.Position = (uint)value; // protobuf keeps the low 32 bits of a longer varint
                e._values[number] = 1;
            }
            else if (wireType == WireFormat.WireType.LengthDelimited)
            {
                switch (kind)
                {
                    case Kind.String:
                        if ((e._values[number] = CharCount(field)) < 0)
                        {
                            return null;
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
                        e._values[number]++;
                        var chars = CharCount(field);
                        if (chars < 0)
                        {
                            return null;
                        }
                        e.HasInvalidProductId |= chars == 0 || chars > EventValidator.MaxProductIdLength;
                        break;
                    case Kind.Timestamp:
                        // Only scalars inside: well-formed bytes are all protobuf needs (it merges repeated records).
                        if (!ProtoWire.IsWellFormed(field))
                        {
                            return null;
                        }
                        e._values[number] = 1;
                        break;
                }
            }
            // Anything else (an unknown field, a known one with another wire type) protobuf keeps as unknown: skipped.
        }
        e.EventType = TypeName(type);
        e.EventId = Text(id);
        e.Revenue = Text(revenue);
        e.Currency = Text(currency);
        return e;
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
                _ => Kind.ParseInstead,
            };
        }
        return kinds;
    }
}

/// <summary>The fields of a <see cref="WireEvent"/>, for <see cref="EventValidator"/>.</summary>
public readonly struct WireEventFields(WireEvent e) : IEventFields
{
    public string EventType => e.EventType;

    public bool IsPresent(EventRequirement requirement) => e.Has(requirement.FieldNumber);

    public int LengthOf(EventStringFields.Accessor field) => e.ValueOf(field.FieldNumber);

    public bool HasPosition => e.HasPosition;

    public uint Position => e.Position;

    public string Revenue => e.Revenue;

    public string Currency
    {
        get => e.Currency;
        set => e.Currency = value;
    }

    public bool HasInvalidProductId => e.HasInvalidProductId;
}
