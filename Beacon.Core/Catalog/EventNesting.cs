using Google.Protobuf.WellKnownTypes;

namespace Beacon.Core.Catalog;

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
