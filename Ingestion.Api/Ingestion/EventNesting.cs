using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Ingestion;

/// <summary>
/// How deeply an event's messages may nest. Protobuf refuses to parse a message nested deeper than its recursion
/// limit (100), and the queue holds each event two levels down (<c>EnrichedEventBatch</c> → <c>EnrichedEvent</c> →
/// <c>Event</c>): an event nested deeper than <see cref="MaxDepth"/> would make its whole stream entry, every event
/// of its request, unreadable to the worker. Such an event is rejected on its own instead, by every door.
/// </summary>
public static class EventNesting
{
    /// <summary>protobuf's default recursion limit less the queue entry's two levels.</summary>
    public const int MaxDepth = 98;

    /// <summary>How many JSON objects deep a Struct field may nest: each costs three levels (Struct, map entry, Value).</summary>
    public const int MaxObjectLevels = MaxDepth / 3;

    /// <summary>
    /// What a request may hold in its events' <c>contextual_data</c> and <c>metadata</c>, all events together: each
    /// value counts 1, each object <see cref="ObjectCost"/>, each unknown protobuf field 1. Every value becomes
    /// protobuf objects that cost about a microsecond to build, whether it took 50 bytes of the body or 2 (<c>[[[[</c>,
    /// <c>[0,0,0</c>): without a budget, 1 MiB of tiny or nested values cost 6 to 20 times a normal 1 MiB batch
    /// (docs/input-shapes.md). A normal 1 MiB batch of 100 events with 40-character values holds under 20,000.
    /// </summary>
    public const int MaxStructValues = 25_000;

    /// <summary>An object (a <c>Struct</c> with its map) costs about four times what a scalar does.</summary>
    public const int ObjectCost = 4;

    /// <summary>Why an event whose Struct fields exhaust the request's budget is rejected.</summary>
    public static readonly string OverBudget =
        $"is over the request's budget of {MaxStructValues} values in contextual_data and metadata (all events together; an object counts {ObjectCost})";

    /// <summary>Parses an event as the worker will be able to read it, or throws <see cref="InvalidProtocolBufferException"/>.</summary>
    /// <remarks>
    /// The bytes are parsed inside the queue entry's framing (<c>EnrichedEventBatch</c> → <c>EnrichedEvent</c> →
    /// <c>Event</c>), as the worker reads them: the same recursion limit, and what protobuf accepts only in a message
    /// of its own is refused too (a stray end-group tag ends a top-level parse quietly but fails a nested one: the
    /// fuzzer found such an event acknowledged and its entry unreadable).
    /// </remarks>
    public static Event Parse(ReadOnlyMemory<byte> bytes)
    {
        // Only events WireEvent leaves to protobuf come here.
        var record = 1 + CodedOutputStream.ComputeLengthSize(bytes.Length) + bytes.Length;
        var framed = new byte[1 + CodedOutputStream.ComputeLengthSize(record) + record];
        var output = new CodedOutputStream(framed);
        output.WriteTag(EnrichedEventBatch.EventsFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(record);
        output.WriteTag(EnrichedEvent.EventFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
        output.Flush();
        return EnrichedEventBatch.Parser.ParseFrom(framed).Events[0].Event;
    }

    /// <summary>
    /// Takes what the event's Struct fields and unknown fields cost from <paramref name="budget"/>, reading only their
    /// tags, before protobuf builds them; false once the budget is spent. Bytes it cannot read (malformed, nested
    /// deeper than <see cref="MaxDepth"/>) are left to protobuf's parser, which refuses them.
    /// </summary>
    public static bool Spend(ReadOnlySpan<byte> eventBytes, ref int budget)
    {
        budget -= Cost(eventBytes, WireKind.Event, 0, budget);
        return budget >= 0;
    }

    private enum WireKind { Event, Struct, Entry, Value, List }

    // Each byte is read once, by the innermost message holding it; counting stops once `limit` is passed.
    private static int Cost(ReadOnlySpan<byte> bytes, WireKind kind, int depth, int limit)
    {
        var cost = 0;
        var position = 0;
        while (position < bytes.Length && cost <= limit)
        {
            if (!ProtoWire.TryReadTag(bytes, ref position, out var number, out var type))
            {
                return cost;
            }
            if (type is WireFormat.WireType.StartGroup or WireFormat.WireType.EndGroup)
            {
                cost++; // a group's fields follow inline, each counted as an unknown field
                continue;
            }
            if (!ProtoWire.TryReadValue(bytes, ref position, type, out _, out var delimited))
            {
                return cost;
            }
            var inner = type == WireFormat.WireType.LengthDelimited ? Inner(kind, number) : null;
            cost += FieldCost(kind, number);
            if (inner is { } next && depth < MaxDepth)
            {
                cost += Cost(delimited, next, depth + 1, limit - cost);
            }
        }
        return cost;
    }

    // As the JSON doors count: a value 1 (its map entry or list item), an object ObjectCost in all, an unknown field 1.
    private static int FieldCost(WireKind kind, int number) => kind switch
    {
        WireKind.Event => Event.Descriptor.FindFieldByNumber(number) is null ? 1 : 0,
        WireKind.Struct or WireKind.List => 1,
        WireKind.Entry => number is 1 or 2 ? 0 : 1,
        _ => number == Value.StructValueFieldNumber ? ObjectCost - 1 : number is >= 1 and <= 6 ? 0 : 1,
    };

    private static WireKind? Inner(WireKind kind, int number) => (kind, number) switch
    {
        (WireKind.Event, Event.ContextualDataFieldNumber or Event.MetadataFieldNumber) => WireKind.Struct,
        (WireKind.Struct, Struct.FieldsFieldNumber) => WireKind.Entry,
        (WireKind.Entry, 2) => WireKind.Value,
        (WireKind.Value, Value.StructValueFieldNumber) => WireKind.Struct,
        (WireKind.Value, Value.ListValueFieldNumber) => WireKind.List,
        (WireKind.List, ListValue.ValuesFieldNumber) => WireKind.Value,
        _ => null,
    };

    /// <summary>Whether a Struct field of an event (contextual_data, metadata) nests deeper than the queue can hold.</summary>
    public static bool IsTooDeep(Struct value) => 1 + DepthOf(value) > MaxDepth;

    // Levels below a Struct: each field is a map entry message holding a Value message.
    private static int DepthOf(Struct value)
    {
        var deepest = 0;
        foreach (var field in value.Fields.Values)
        {
            deepest = Math.Max(deepest, DepthOf(field));
        }
        return value.Fields.Count == 0 ? 0 : 2 + deepest;
    }

    private static int DepthOf(Value value)
    {
        switch (value.KindCase)
        {
            case Value.KindOneofCase.StructValue:
                return 1 + DepthOf(value.StructValue);
            case Value.KindOneofCase.ListValue:
                var deepest = -1;
                foreach (var item in value.ListValue.Values)
                {
                    deepest = Math.Max(deepest, DepthOf(item));
                }
                return 1 + (deepest < 0 ? 0 : 1 + deepest);
            default:
                return 0;
        }
    }
}
