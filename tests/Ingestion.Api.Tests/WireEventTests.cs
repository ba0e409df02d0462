using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// The gRPC door reads events from their bytes (<see cref="WireEvent"/>) instead of parsing them: for every event the
/// validator must come to the same verdict, and the path see the same id and currency, as for the parsed event.
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
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = RandomEventBytes(random);
            var parsed = Event.Parser.ParseFrom(bytes);
            var wire = WireEvent.Read(bytes);
            if (parsed.ContextualData is not null || parsed.Metadata is not null)
            {
                Assert.Null(wire); // a Struct is left to protobuf
                continue;
            }
            Assert.NotNull(wire);
            foreach (var family in new[] { EventFamily.Layers, EventFamily.Alana })
            {
                var fromBytes = EventValidator.Validate(new WireEventFields(wire), family, i);
                var fromMessage = EventValidator.Validate(parsed.Clone(), family, i);
                Assert.Equal(fromMessage, fromBytes);
            }
            Assert.Equal(parsed.EventType, wire.EventType);
            Assert.Equal(parsed.EventId, wire.EventId);
            Assert.Equal(parsed.ShoppingChannel.Length > 0, wire.Has(Event.ShoppingChannelFieldNumber));
            // The validator upper-cases the currency it checks, on either.
            var upperCased = parsed.Clone();
            var fresh = WireEvent.Read(bytes)!;
            EventValidator.Validate(upperCased, EventFamily.Alana, i);
            EventValidator.Validate(new WireEventFields(fresh), EventFamily.Alana, i);
            Assert.Equal(upperCased.Currency, fresh.Currency);
        }
    }

    [Fact]
    public void BytesThatAreNoEventAreNeverReadAsOne()
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
            var wire = WireEvent.Read(mutated);
            if (wire is null)
            {
                continue; // the door then asks protobuf, which builds the event or rejects it
            }
            read++;
            // What the reader accepts, protobuf parses (it throws on anything else), and the two agree on it.
            var parsed = Event.Parser.ParseFrom(mutated);
            Assert.Equal(EventValidator.Validate(parsed, EventFamily.Layers, 0), EventValidator.Validate(new WireEventFields(wire), EventFamily.Layers, 0));
            Assert.Equal(parsed.EventId, wire.EventId);
        }
        Assert.True(read > 1000, $"only {read} mutated events were read; the test would prove little");
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
        if (random.Next(20) == 0)
        {
            e.ContextualData = new Struct { Fields = { ["k"] = Value.ForString("v") } };
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
            Assert.Null(WireEvent.Read(bytes));
            bytes = bytes[..^4];
        }
        if (random.Next(5) == 0)
        {
            // An unknown field, and a known field number with another wire type: protobuf keeps both as unknown.
            bytes = [.. bytes, 0xF8, 0x07, 0x2A, 0x10, 0x05];
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
