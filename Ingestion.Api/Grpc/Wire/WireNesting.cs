using Beacon.Core.Catalog;
using Beacon.Protos.Queue;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// <see cref="EventNesting"/>'s limits applied to an event still in the protobuf bytes it arrived in (the gRPC door):
/// its Struct values counted from their tags before protobuf builds them, and the parse the worker will make.
/// </summary>
public static class WireNesting
{
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
    /// deeper than <see cref="EventNesting.MaxDepth"/>) are left to protobuf's parser, which refuses them.
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
            if (inner is { } next && depth < EventNesting.MaxDepth)
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
        _ => number == Value.StructValueFieldNumber ? EventNesting.ObjectCost - 1 : number is >= 1 and <= 6 ? 0 : 1,
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
}
