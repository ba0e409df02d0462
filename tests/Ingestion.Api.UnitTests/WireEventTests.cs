using Beacon.Core.Catalog;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.UnitTests;

/// <summary>
/// The gRPC door reads events from their bytes (<see cref="WireEvent"/>) instead of parsing them: for every event the
/// validator must come to the same verdict, the path see the same id and defaults, and the queue get the same event,
/// as for the parsed event; and bytes are an event exactly when the worker's parser takes them.
/// </summary>
public sealed class WireEventTests
{
    private static readonly string[] Types = [.. EventCatalog.Names, "", "not_a_type", new string('t', 80), "Product_View"];

    private static readonly string[] Texts =
    [
        "", "a", "session-1", "8000001234", "web", "app", "usd", "EUR", "EURO", "19.99", "-1e3", "12,50", "x y", "ünïcødé",
        "日本語のテキスト", "😀😀", new string('a', 16), new string('a', 17), new string('b', 64), new string('b', 65),
        new string('c', 256), new string('c', 257), new string('é', 130), string.Concat(Enumerable.Repeat("😀", 40)), "\u0000",
    ];

    [Fact]
    public void AnEventReadFromItsBytesIsValidatedExactlyAsTheParsedEvent()
    {
        var random = new Random(20261201);
        var withStructs = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = RandomEventBytes(random);
            var parsed = Event.Parser.ParseFrom(bytes);
            var wire = Read(bytes);
            Assert.Null(wire.Rejection);
            withStructs += parsed.ContextualData is not null || parsed.Metadata is not null ? 1 : 0;
            Assert.Equal(parsed.EventType, wire.EventType);
            Assert.Equal(parsed.EventId, wire.EventId);
            Assert.Equal(parsed.ShoppingChannel.Length > 0, wire.HasShoppingChannel);
            Assert.Equal(parsed.ContextualData is not null, wire.HasContextualData);
            foreach (var family in new[] { EventFamily.Layers, EventFamily.Alana })
            {
                // The validator upper-cases the currency it checks, on either.
                Assert.Equal(EventValidator.Validate(parsed, family, i), wire.Validate(family, i));
            }
            // What the wire event writes for the queue reads as the validated event.
            var written = new byte[wire.CalculateSize()];
            wire.WriteTo(written);
            Assert.Equal(parsed, Event.Parser.ParseFrom(written));
        }
        Assert.True(withStructs > 500, $"only {withStructs} events held a Struct");
    }

    [Fact]
    public void BytesAreReadAsAnEventExactlyWhenTheWorkersParserTakesThem()
    {
        var random = new Random(7);
        var read = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = RandomEventBytes(random);
            // Truncate, flip a byte, or insert garbage.
            var mutated = (i % 3) switch
            {
                0 => bytes[..random.Next(bytes.Length + 1)],
                1 => Flip(bytes, random),
                _ => [.. bytes[..random.Next(bytes.Length + 1)], .. RandomBytes(random, random.Next(1, 6))],
            };
            var wire = Read(mutated);
            Event? parsed;
            try
            {
                parsed = WireNesting.Parse(mutated);
            }
            catch (InvalidProtocolBufferException)
            {
                parsed = null;
            }
            Assert.Equal(parsed is not null, wire.Rejection is null);
            if (parsed is null)
            {
                Assert.Equal(RejectionCodes.NotAnObject, wire.Rejection!.Code);
                continue;
            }
            read++;
            Assert.Equal(EventValidator.Validate(parsed, EventFamily.Layers, 0), wire.Validate(EventFamily.Layers, 0));
            Assert.Equal(parsed.EventId, wire.EventId);
        }
        Assert.True(read > 1000, $"only {read} mutated events were read; the test would prove little");
    }

    [Fact]
    public void GroupsAreSkippedAsProtobufSkipsThemAndOnlyWhenTheyNestAsItAllows()
    {
        var e = new Event { EventId = "g", EventType = "page_view", SessionId = "s" };
        // Field 99 as a group holding a varint, a string and a group of field 98; then the event's own fields.
        byte[] nested = [0x9B, 0x06, 0x08, 0x01, 0x12, 0x01, 0x78, 0x93, 0x06, 0x94, 0x06, 0x9C, 0x06];
        var wire = Read([.. nested, .. e.ToByteArray()]);
        Assert.Null(wire.Rejection);
        Assert.Equal(("g", "page_view"), (wire.EventId, wire.EventType));
        // An end tag of another field, and a group never closed, are no event.
        Assert.NotNull(Read([0x9B, 0x06, 0x94, 0x06, .. e.ToByteArray()]).Rejection);
        Assert.NotNull(Read([.. e.ToByteArray(), 0x9B, 0x06]).Rejection);
    }

    private static WireEvent Read(byte[] bytes)
    {
        var budget = EventNesting.MaxStructValues;
        return WireEvent.Read(bytes, ref budget);
    }

    private static byte[] RandomEventBytes(Random random)
    {
        var e = new Event();
        foreach (var accessor in StringFields)
        {
            if (random.Next(3) == 0)
            {
                accessor.Set(e, Pick(random, Texts));
            }
        }
        e.EventType = Pick(random, Types);
        if (random.Next(2) == 0)
        {
            e.Timestamp = Timestamp.FromDateTime(DateTime.UnixEpoch.AddSeconds(random.Next()));
        }
        if (random.Next(2) == 0)
        {
            e.Position = (uint)random.Next(3);
        }
        for (var n = random.Next(4) == 0 ? random.Next(4) : 0; n > 0; n--)
        {
            e.ProductIds.Add(Pick(random, Texts));
        }
        for (var n = random.Next(4) == 0 ? random.Next(3) : 0; n > 0; n--)
        {
            e.Consent.Add(Pick(random, Texts));
        }
        if (random.Next(10) == 0)
        {
            e.ContextualData = new Struct { Fields = { ["k"] = Value.ForString(Pick(random, Texts)) } };
        }
        if (random.Next(20) == 0)
        {
            e.Metadata = new Struct { Fields = { ["n"] = Value.ForList(Value.ForNumber(1), Value.ForStruct(new Struct())) } };
        }
        byte[] bytes = e.ToByteArray();
        if (random.Next(4) == 0)
        {
            // A second record of some fields: protobuf keeps the last string and merges messages.
            var again = new Event();
            StringFields[random.Next(StringFields.Length)].Set(again, Pick(random, Texts));
            if (random.Next(2) == 0)
            {
                again.Position = (uint)random.Next(3);
            }
            bytes = [.. bytes, .. again.ToByteArray()];
        }
        if (random.Next(10) == 0)
        {
            // session_id (field 4) whose bytes are not UTF-8: protobuf refuses the event, so the reader must too.
            bytes = [.. bytes, 0x22, 0x02, 0xC3, 0x28];
            Assert.Throws<InvalidProtocolBufferException>(() => Event.Parser.ParseFrom(bytes));
            Assert.Equal(RejectionCodes.NotAnObject, Read(bytes).Rejection?.Code);
            bytes = bytes[..^4];
        }
        if (random.Next(5) == 0)
        {
            // An unknown field, and a known field number with another wire type: protobuf keeps both as unknown.
            bytes = [.. bytes, 0xF8, 0x07, 0x2A, 0x10, 0x05];
        }
        if (random.Next(10) == 0)
        {
            // An unknown group of field 99 holding a varint: protobuf keeps it too.
            bytes = [.. bytes, 0x9B, 0x06, 0x08, 0x01, 0x9C, 0x06];
        }
        return bytes;
    }

    private static readonly EventStringFields.Accessor[] StringFields =
        [.. EventCatalog.AllFields.Select(EventStringFields.Of).OfType<EventStringFields.Accessor>()];

    private static string Pick(Random random, string[] values) => values[random.Next(values.Length)];

    private static byte[] Flip(byte[] bytes, Random random)
    {
        var copy = bytes.ToArray();
        if (copy.Length > 0)
        {
            copy[random.Next(copy.Length)] = (byte)random.Next(256);
        }
        return copy;
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
