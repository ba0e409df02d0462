using System.Collections.Frozen;
using System.Text;
using System.Text.Unicode;
using Beacon.Core.Catalog;
using Beacon.Protos.V1;
using Google.Protobuf;
using ProtoFieldType = Google.Protobuf.Reflection.FieldType;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// What <see cref="EventValidator"/> and the ingestion path need of a <c>beacon.v1.Event</c>, read straight from its
/// bytes (for <see cref="WireEvent"/>): the type, each string's length, presence, the client event_id, revenue and
/// currency. The other values are never needed as strings: the bytes go to the queue as they are. A struct, so the
/// validator is compiled for it and calls nothing through an interface (docs/benchmarks.md).
/// </summary>
public struct WireFields : IEventFields
{
    /// <summary>How far <see cref="Read"/> got with an event's bytes.</summary>
    public enum Outcome
    {
        /// <summary>Every field was read and checked.</summary>
        Read,

        /// <summary>Every field was read, but some hold what only protobuf checks (a Struct, a group).</summary>
        NeedsProtobuf,

        /// <summary>The bytes could not be read as protobuf reads them.</summary>
        Unreadable,
    }

    // Checked: a field the reader does not look into (a Struct), which protobuf checks.
    private enum Kind : byte { Unknown, String, Strings, Position, Timestamp, Checked }

    // protobuf's recursion limit: groups nested deeper are refused by its parser anyway.
    private const int MaxGroupDepth = 100;

    private static readonly Kind[] Kinds = KindsByFieldNumber();

    // Catalog type names, so an event's type costs no string of its own.
    private static readonly FrozenSet<string> TypeNames = EventCatalog.Names.ToFrozenSet(StringComparer.Ordinal);
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> TypeNamesBySpan = TypeNames.GetAlternateLookup<ReadOnlySpan<char>>();

    // Per field number: a string's UTF-16 length (its last value's, as protobuf keeps the last), 1 for a present
    // message or position, the number of product_ids; 0 when absent.
    private int[] _values;
    private string _currency;
    private bool _invalidConsentName;

    public WireFields()
    {
        _values = new int[Kinds.Length];
        _currency = "";
    }

    public string EventType { get; private set; } = "";

    /// <summary>The client's event_id, or "" when it sent none.</summary>
    public string EventId { get; private set; } = "";

    public bool HasPosition { get; private set; }

    public uint Position { get; private set; }

    public string Revenue { get; private set; } = "";

    /// <summary>The currency code (the validator upper-cases it).</summary>
    public string Currency
    {
        readonly get => _currency;
        set
        {
            CurrencyChanged |= !string.Equals(_currency, value, StringComparison.Ordinal);
            _currency = value;
        }
    }

    /// <summary>Whether <see cref="Currency"/> is no longer the value in the bytes.</summary>
    public bool CurrencyChanged { get; private set; }

    public bool HasInvalidProductId { get; private set; }

    public readonly bool HasInvalidConsent => _invalidConsentName || _values[Event.ConsentFieldNumber] > EventCatalog.MaxConsentCategories;

    public readonly bool Has(int fieldNumber) => _values[fieldNumber] > 0;

    public readonly bool IsPresent(EventRequirement requirement) => _values[requirement.FieldNumber] > 0;

    public readonly int LengthOf(EventStringFields.Accessor field) => _values[field.FieldNumber];

    /// <summary>Reads an event's fields from <paramref name="bytes"/>.</summary>
    public Outcome Read(ReadOnlySpan<byte> bytes)
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
                        _invalidConsentName |= number == Event.ConsentFieldNumber && !EventValidator.IsConsentCategory(chars);
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
        EventType = TypeName(type);
        EventId = Text(id);
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
