using Beacon.Protos.V1;
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

    /// <summary>Parses an event as the worker will be able to read it, or throws <see cref="InvalidProtocolBufferException"/>.</summary>
    public static Event Parse(ReadOnlyMemory<byte> bytes)
    {
        var copy = bytes.ToArray(); // only events WireEvent leaves to protobuf come here
        using var input = CodedInputStream.CreateWithLimits(new MemoryStream(copy, writable: false), copy.Length, MaxDepth);
        return Event.Parser.ParseFrom(input);
    }

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
