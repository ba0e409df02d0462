using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.UnitTests;

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
        Assert.Equal(readable, TryParse(() => WireNesting.Parse(e.ToByteArray())));
    }

    // Found by the fuzzer: protobuf ends a top-level parse quietly at a stray end-group tag, but fails the same bytes
    // nested in the queue entry. The event was acknowledged and its whole entry unreadable to the worker.
    [Fact]
    public void AnEventWithAStrayEndGroupTagIsRefusedAsTheWorkerWouldRefuseIt()
    {
        // 0x0C: the end-group tag of field 1, then the rest of an event.
        byte[] bytes = [.. new Event { EventType = "page_view", ContextualData = new Struct() }.ToByteArray(), 0x0C, .. new Event { SessionId = "s" }.ToByteArray()];
        byte[] framed = [0x0A, (byte)(2 + bytes.Length), 0x0A, (byte)bytes.Length, .. bytes];

        Assert.True(TryParse(() => Event.Parser.ParseFrom(new CodedInputStream(bytes))), "protobuf reads the bytes alone from a stream, as the door did");
        Assert.False(TryParse(() => EnrichedEventBatch.Parser.ParseFrom(framed)), "the worker cannot read them in an entry");
        Assert.False(TryParse(() => WireNesting.Parse(bytes)));
    }

    // Tiny or nested values cost per value, not per byte: a request's Struct fields share one budget, counted alike by the
    // JSON doors (while reading) and the gRPC door (from the tags, before protobuf builds anything).
    [Theory]
    [InlineData(EventNesting.MaxStructValues - 1, 0, true)]
    [InlineData(EventNesting.MaxStructValues, 0, false)]
    [InlineData(0, (EventNesting.MaxStructValues - 1) / EventNesting.ObjectCost, true)]
    [InlineData(0, (EventNesting.MaxStructValues - 1) / EventNesting.ObjectCost + 1, false)]
    public void StructValuesOverTheRequestsBudgetRejectTheirEventAtEveryDoor(int scalars, int objects, bool accepted)
    {
        // {"a":[...]}: the list itself is one value.
        var list = Enumerable.Repeat(Value.ForNull(), scalars).Concat(Enumerable.Range(0, objects).Select(_ => Value.ForStruct(new Struct())));
        var contextual = new Struct { Fields = { ["a"] = Value.ForList([.. list]) } };
        var json = "{\"events\":[{\"event_type\":\"page_view\",\"contextual_data\":" + Google.Protobuf.JsonFormatter.Default.Format(contextual) + "}]}";

        var read = Assert.Single(Apis.Json.JsonBatchReader.Read(System.Text.Encoding.UTF8.GetBytes(json), Core.Catalog.EventFamily.Layers, 100).Events);
        var budget = EventNesting.MaxStructValues;
        var spent = WireNesting.Spend(new Event { EventType = "page_view", ContextualData = contextual }.ToByteArray(), ref budget);

        Assert.Equal(accepted, read.Rejection is null);
        Assert.Equal(accepted, spent);
        if (!accepted)
        {
            Assert.Contains("budget", read.Rejection!.Reason);
        }
    }

    [Fact]
    public void TheBudgetIsSharedByTheRequestsEventsAndCountsUnknownFields()
    {
        var half = new Struct { Fields = { ["a"] = Value.ForList([.. Enumerable.Repeat(Value.ForBool(true), EventNesting.MaxStructValues / 2)]) } };
        var json = "{\"events\":[" + string.Join(",", Enumerable.Repeat(
            "{\"event_type\":\"page_view\",\"contextual_data\":" + Google.Protobuf.JsonFormatter.Default.Format(half) + "}", 3)) + "]}";

        var events = Apis.Json.JsonBatchReader.Read(System.Text.Encoding.UTF8.GetBytes(json), Core.Catalog.EventFamily.Layers, 100).Events;

        Assert.Equal([true, false, false], events.Select(e => e.Rejection is null));
        // 25,001 unknown varint fields (tag 0x98 0x06: field 99, a varint) next to an empty contextual_data: protobuf would keep each one.
        var unknown = Enumerable.Range(0, EventNesting.MaxStructValues + 1).SelectMany(_ => new byte[] { 0x98, 0x06, 1 });
        byte[] bytes = [.. new Event { EventType = "page_view", ContextualData = new Struct() }.ToByteArray(), .. unknown];
        var budget = EventNesting.MaxStructValues;
        Assert.False(WireNesting.Spend(bytes, ref budget));
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
