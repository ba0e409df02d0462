using Beacon.Ingestion.Ingestion;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// An event is accepted only if the worker can parse the stream entry that holds it: protobuf's recursion limit,
/// two levels below the entry's root, is where the line is.
/// </summary>
public sealed class EventNestingTests
{
    [Theory]
    [InlineData(1, 0)]
    [InlineData(31, 0)]
    [InlineData(32, 0)]
    [InlineData(33, 0)]
    [InlineData(34, 0)]
    [InlineData(20, 17)]
    [InlineData(20, 18)]
    [InlineData(20, 19)]
    [InlineData(1, 48)]
    [InlineData(1, 49)]
    public void AnEventIsTooDeepExactlyWhenTheQueueEntryHoldingItCouldNotBeRead(int objects, int arrays)
    {
        var contextual = Nested(objects, arrays);
        var e = new Event { EventType = "page_view", ContextualData = contextual };
        var entry = new EnrichedEventBatch { Events = { new EnrichedEvent { Event = e } } }.ToByteArray();

        var readable = TryParse(() => EnrichedEventBatch.Parser.ParseFrom(entry));

        Assert.Equal(!readable, EventNesting.IsTooDeep(contextual));
        Assert.Equal(readable, TryParse(() => EventNesting.Parse(e.ToByteArray())));
    }

    // `objects` nested objects, the innermost holding `arrays` nested arrays around a string.
    private static Struct Nested(int objects, int arrays)
    {
        var leaf = Value.ForString("x");
        for (var i = 0; i < arrays; i++)
        {
            leaf = Value.ForList(leaf);
        }
        var value = new Struct { Fields = { ["leaf"] = leaf } };
        for (var i = 1; i < objects; i++)
        {
            value = new Struct { Fields = { ["k"] = Value.ForStruct(value) } };
        }
        return value;
    }

    private static bool TryParse(Action parse)
    {
        try
        {
            parse();
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }
}
