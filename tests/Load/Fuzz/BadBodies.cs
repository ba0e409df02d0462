using System.Text;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Load.Fuzz;

/// <summary>
/// Bad bodies for the three doors, each a function of a seeded <see cref="Random"/>: JSON mutations of valid Layers
/// batches (byte flips, truncation, inserted tokens, type swaps, invalid UTF-8, BOMs, deep nesting, huge numbers and
/// strings, many keys) and protobuf mutations of valid <c>SendEventsRequest</c>s (random bytes, wrong wire types,
/// varint overflows, truncated length-delimited fields, groups, unknown fields, deep nesting). Shared by the fuzz
/// tests and the fuzz command.
/// </summary>
public static class BadBodies
{
    private static readonly string[] Fields =
    [
        "event_id", "event_type", "timestamp", "session_id", "device_id", "customer_id", "attribution_token", "product_id",
        "variant_id", "collection_handle", "query", "position", "contextual_data", "shopping_channel", "revenue", "currency",
        "marketing_source", "visitorId", "productIds", "metadata", "eventType", "product_ids",
    ];

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1e309", "-0.0", "18446744073709551616", "3.5", "\"\"", "\"x\"", "[]", "{}", "[1,[2,[3]]]",
        "{\"a\":{\"b\":null}}", "\"2025-13-45T99:99:99Z\"", "\"\\ud800\"", "\"\\u0000\"", "\"" + new string('a', 5000) + "\"",
        "\"product_view\"", "\"purchase\"", "\"2025-01-15T14:30:00Z\"", "1.7976931348623157e308", "1e999999", "-1e999999",
        "\"\\uDC00\\uD800\"", "NaN", "Infinity", "0x10", "01", "1.", ".5", "+1", "\"\\x41\"",
    ];

    private static readonly string[] Tokens = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "1e", "-", "\"a\":", "/*", "\u00a0", "\0", "'", "tru"];

    private static readonly string[] Types = ["page_view", "product_view", "product_click", "collection_view", "search", "block_view", "purchase"];

    /// <summary>How many kinds <see cref="Json"/> picks from (by <c>index % JsonKinds</c>).</summary>
    public const int JsonKinds = 14;

    /// <summary>A bad (or, mutated by chance into validity, good) JSON body for <c>/beacon</c> or <c>/api/v1/events</c>.</summary>
    public static byte[] Json(Random random, int index) => (index % JsonKinds) switch
    {
        0 => RandomBytes(random),
        1 => DeepNesting(random),
        2 => WrongTypes(random),
        3 => InvalidUtf8(random),
        4 => FlippedBytes(random),
        5 => HugeStrings(random),
        6 => Truncated(random),
        7 => InsertedTokens(random),
        8 => WithBom(random),
        9 => HugeNumbers(random),
        10 => ManyKeys(random),
        11 => Escapes(random),
        12 => Utf8(ValidJson(random)),
        _ => TypeSwapped(random),
    };

    /// <summary>A valid Layers batch of 1 to 10 events with fresh event ids (some without) and contextual_data.</summary>
    public static string ValidJson(Random random) =>
        "{\"events\":[" + string.Join(",", Enumerable.Range(0, random.Next(1, 11)).Select(_ => ValidJsonEvent(random))) + "]}";

    private static string ValidJsonEvent(Random random)
    {
        var id = random.Next(4) == 0 ? "" : $"\"event_id\":\"{Guid.NewGuid()}\",";
        var context = random.Next(2) == 0 ? "" : $",\"contextual_data\":{{\"page\":\"/p/{random.Next(1000)}\",\"n\":{random.Next()},\"tags\":[\"a\",true,null,{{\"k\":1.5}}]}}";
        return $"{{{id}\"event_type\":\"{Types[random.Next(Types.Length)]}\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s-{random.Next(100)}\"," +
               $"\"product_id\":{random.Next(1, 1_000_000)},\"collection_handle\":\"c\",\"query\":\"q\",\"position\":{random.Next(1, 50)},\"revenue\":\"19.99\",\"currency\":\"usd\"{context}}}";
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 2048)];
        random.NextBytes(bytes);
        if (bytes.Length > 0 && random.Next(2) == 0)
        {
            bytes[0] = (byte)'{';
        }
        return bytes;
    }

    private static byte[] DeepNesting(Random random)
    {
        var depth = random.Next(30, 20_000);
        var open = random.Next(2) == 0 ? "[" : "{\"a\":";
        var builder = new StringBuilder("{\"events\":[{\"event_type\":\"page_view\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"contextual_data\":");
        var objects = random.Next(3) == 0;
        depth = objects ? random.Next(28, 60) : depth; // around the limits the queue and the reader hold
        builder.Append("{\"a\":");
        builder.Insert(builder.Length, open, depth);
        builder.Append('1');
        builder.Insert(builder.Length, open == "[" ? "]" : "}", depth);
        builder.Append("}}]}");
        return Utf8(builder.ToString());
    }

    private static byte[] WrongTypes(Random random)
    {
        var events = Enumerable.Range(0, random.Next(1, 20)).Select(_ =>
        {
            var fields = Enumerable.Range(0, random.Next(0, 10))
                .Select(_ => $"\"{Fields[random.Next(Fields.Length)]}\":{Values[random.Next(Values.Length)]}");
            return random.Next(10) == 0 ? Values[random.Next(Values.Length)] : "{" + string.Join(",", fields) + "}";
        });
        var top = random.Next(8) switch
        {
            0 => "{\"events\":" + Values[random.Next(Values.Length)] + "}",
            1 => "[" + string.Join(",", events) + "]",
            _ => "{\"events\":[" + string.Join(",", events) + "]}",
        };
        return Utf8(top);
    }

    // A valid event's field given a value of another JSON type.
    private static byte[] TypeSwapped(Random random)
    {
        var body = ValidJson(random);
        var field = Fields[random.Next(Fields.Length)];
        var at = body.IndexOf($"\"{field}\":", StringComparison.Ordinal);
        if (at < 0)
        {
            return Utf8(body.Insert(body.IndexOf('{', 11) + 1, $"\"{field}\":{Values[random.Next(Values.Length)]},"));
        }
        var start = at + field.Length + 3;
        var end = start;
        while (end < body.Length && body[end] is not (',' or '}'))
        {
            end += body[end] == '"' ? body.IndexOf('"', end + 1) - end + 1 : 1;
        }
        return Utf8(body[..start] + Values[random.Next(Values.Length)] + body[end..]);
    }

    private static byte[] InvalidUtf8(Random random)
    {
        byte[][] bad = [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xFE, 0xFF]];
        var body = Utf8(ValidJson(random));
        var at = random.Next(body.Length);
        var quote = Array.IndexOf(body, (byte)'"', at);
        at = quote >= 0 && random.Next(3) > 0 ? quote + 1 : at; // mostly inside a string or a name
        return [.. body[..at], .. bad[random.Next(bad.Length)], .. body[at..]];
    }

    private static byte[] FlippedBytes(Random random)
    {
        var bytes = Utf8(ValidJson(random));
        for (var i = random.Next(1, 6); i > 0; i--)
        {
            var at = random.Next(bytes.Length);
            bytes[at] = random.Next(2) == 0 ? (byte)random.Next(256) : (byte)(bytes[at] ^ (1 << random.Next(8)));
        }
        return bytes;
    }

    private static byte[] Truncated(Random random)
    {
        var bytes = Utf8(ValidJson(random));
        return bytes[..random.Next(bytes.Length)];
    }

    private static byte[] InsertedTokens(Random random)
    {
        var body = ValidJson(random);
        for (var i = random.Next(1, 4); i > 0; i--)
        {
            body = body.Insert(random.Next(body.Length), Tokens[random.Next(Tokens.Length)]);
        }
        return Utf8(body);
    }

    private static byte[] WithBom(Random random)
    {
        byte[][] boms = [[0xEF, 0xBB, 0xBF], [0xFE, 0xFF], [0xFF, 0xFE], [0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF]];
        var body = ValidJson(random);
        return random.Next(4) == 0 ? Encoding.Unicode.GetBytes(body) : [.. boms[random.Next(boms.Length)], .. Utf8(body)];
    }

    private static byte[] HugeStrings(Random random)
    {
        var length = random.Next(1_000, 600_000);
        var field = Fields[random.Next(Fields.Length)];
        return Utf8($$"""{"events":[{"event_type":"search","timestamp":"2025-01-15T14:30:00Z","session_id":"s","query":"q","{{field}}":"{{new string('z', length)}}"}]}""");
    }

    private static byte[] HugeNumbers(Random random)
    {
        string[] numbers = ["1e999999", "-1e999999", "1e-999999", new string('9', random.Next(1_000, 100_000)), "0." + new string('0', 50_000) + "1",
            "1" + new string('0', 400) + ".5e-400", "-0", "4294967296", "18446744073709551616"];
        var number = numbers[random.Next(numbers.Length)];
        var value = random.Next(4) switch { 0 => "\"position\":" + number, 1 => "\"revenue\":" + number, 2 => "\"product_id\":" + number, _ => "\"contextual_data\":{\"n\":" + number + "}" };
        return Utf8("{\"events\":[{\"event_type\":\"product_view\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"product_id\":\"p\"," + value + "}]}");
    }

    // Many small or duplicate keys in contextual_data: around the request's Struct budget.
    private static byte[] ManyKeys(Random random)
    {
        var count = random.Next(1, 60_000);
        var duplicate = random.Next(3) == 0;
        var builder = new StringBuilder("{\"events\":[{\"event_type\":\"page_view\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"contextual_data\":{");
        for (var i = 0; i < count; i++)
        {
            builder.Append(i == 0 ? "" : ",").Append(duplicate ? "\"k\"" : $"\"{i:x}\"").Append(':').Append(i % 10);
        }
        return Utf8(builder.Append("}}]}").ToString());
    }

    private static byte[] Escapes(Random random)
    {
        string[] escapes = ["\\u0000", "\\ud83d\\ude00", "\\ud800", "\\\"", "\\\\", "\\n", "\\uFFFF", "\\u00e9"];
        var escape = escapes[random.Next(escapes.Length)];
        var text = new StringBuilder().Insert(0, escape, random.Next(1, 100_000)).ToString();
        return random.Next(2) == 0
            ? Utf8($$$"""{"events":[{"event_type":"search","timestamp":"2025-01-15T14:30:00Z","session_id":"s","query":"q","contextual_data":{"{{{text}}}":"{{{text}}}"}}]}""")
            : Utf8($$"""{"events":[{"event_type":"search","timestamp":"2025-01-15T14:30:00Z","session_id":"s","query":"{{text[..Math.Min(text.Length, 6_000)]}}"}]}""");
    }

    /// <summary>How many kinds <see cref="Grpc"/> picks from (by <c>index % GrpcKinds</c>).</summary>
    public const int GrpcKinds = 10;

    /// <summary>A bad (or, by chance, good) <c>SendEventsRequest</c> message.</summary>
    public static byte[] Grpc(Random random, int index) => (index % GrpcKinds) switch
    {
        0 => RandomBytes(random),
        1 => FlippedBytes(ValidRequest(random), random),
        2 => Truncated(ValidRequest(random), random),
        3 => WrongWireType(random),
        4 => VarintOverflow(random),
        5 => TruncatedLength(random),
        6 => WithGroups(random),
        7 => WithUnknownFields(random),
        8 => DeepStruct(random),
        _ => ValidRequest(random),
    };

    /// <summary>A valid request of 1 to 10 events with fresh event ids (some without) and contextual_data.</summary>
    public static byte[] ValidRequest(Random random) => new SendEventsRequest { Events = { Enumerable.Range(0, random.Next(1, 11)).Select(_ => ValidEvent(random)) } }.ToByteArray();

    private static Event ValidEvent(Random random)
    {
        var e = new Event
        {
            EventId = random.Next(4) == 0 ? "" : Guid.NewGuid().ToString(),
            EventType = Types[random.Next(Types.Length)],
            Timestamp = new Timestamp { Seconds = 1_736_951_400 + random.Next(1000) },
            SessionId = "s-" + random.Next(100),
            ProductId = random.Next(1, 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture),
            CollectionHandle = "c",
            Query = "q",
            Position = (uint)random.Next(1, 50),
            Revenue = "19.99",
            Currency = "usd",
        };
        if (random.Next(2) == 0)
        {
            e.ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/p"), ["n"] = Value.ForNumber(random.Next()), ["tags"] = Value.ForList(Value.ForBool(true), Value.ForNull()) } };
        }
        return e;
    }

    private static byte[] FlippedBytes(byte[] bytes, Random random)
    {
        for (var i = random.Next(1, 6); i > 0; i--)
        {
            var at = random.Next(bytes.Length);
            bytes[at] = random.Next(2) == 0 ? (byte)random.Next(256) : (byte)(bytes[at] ^ (1 << random.Next(8)));
        }
        return bytes;
    }

    // Rewrites the wire type of the request's first field or of a field inside an event (its tag is at offset 0 or 2+).
    private static byte[] WrongWireType(Random random)
    {
        var bytes = ValidRequest(random);
        var at = random.Next(2) == 0 ? 0 : LengthSize(bytes, 1) + 1;
        bytes[at] = (byte)((bytes[at] & ~7) | random.Next(8));
        return bytes;
    }

    // A varint of 11 bytes (longer than 64 bits) as a length, a value or a tag.
    private static byte[] VarintOverflow(Random random)
    {
        byte[] overflow = [.. Enumerable.Repeat((byte)0xFF, random.Next(10, 12)), 0x01];
        var valid = ValidRequest(random);
        return random.Next(3) switch
        {
            0 => [0x0A, .. overflow, .. valid],
            1 => [.. valid, .. overflow],
            _ => [.. valid, 0x0A, 0x05, (7 << 3) | 0, .. overflow], // inside an event: position as an oversized varint
        };
    }

    private static byte[] Truncated(byte[] bytes, Random random) => bytes[..random.Next(1, bytes.Length)];

    private static int LengthSize(byte[] bytes, int at)
    {
        var size = 1;
        while (at < bytes.Length && bytes[at++] >= 0x80)
        {
            size++;
        }
        return size;
    }

    private static byte[] TruncatedLength(Random random)
    {
        var valid = ValidRequest(random);
        var e = ValidEvent(random).ToByteArray();
        // The event's length says more bytes than follow; or a field inside the event does.
        return random.Next(2) == 0
            ? [.. valid, 0x0A, .. Varint((ulong)e.Length + (ulong)random.Next(1, 1_000_000)), .. e]
            : [.. valid, 0x0A, .. Varint((ulong)e.Length + 2), .. e, (3 << 3) | 2, 0x7F];
    }

    private static byte[] WithGroups(Random random)
    {
        var depth = random.Next(1, 300);
        var field = random.Next(1, 30);
        byte[] open = Varint((ulong)(field << 3 | 3));
        byte[] close = Varint((ulong)(field << 3 | 4));
        var groups = Enumerable.Repeat(open, depth).SelectMany(b => b).Concat(Enumerable.Repeat(close, random.Next(3) == 0 ? depth - 1 : depth).SelectMany(b => b)).ToArray();
        var e = ValidEvent(random).ToByteArray();
        return random.Next(2) == 0
            ? [.. ValidRequest(random), .. groups]
            : [.. ValidRequest(random), 0x0A, .. Varint((ulong)(e.Length + groups.Length)), .. e, .. groups];
    }

    private static byte[] WithUnknownFields(Random random)
    {
        var unknown = new List<byte>();
        for (var i = random.Next(1, random.Next(2) == 0 ? 20 : 30_000); i > 0; i--)
        {
            var field = random.Next(30, 5000);
            switch (random.Next(4))
            {
                case 0:
                    unknown.AddRange(Varint((ulong)(field << 3))); unknown.Add(1);
                    break;
                case 1:
                    unknown.AddRange(Varint((ulong)(field << 3 | 1))); unknown.AddRange(new byte[8]);
                    break;
                case 2:
                    unknown.AddRange(Varint((ulong)(field << 3 | 2))); unknown.Add(1); unknown.Add(0x41);
                    break;
                default:
                    unknown.AddRange(Varint((ulong)(field << 3 | 5))); unknown.AddRange(new byte[4]);
                    break;
            }
        }
        var e = ValidEvent(random).ToByteArray();
        return random.Next(2) == 0
            ? [.. ValidRequest(random), .. unknown]
            : [0x0A, .. Varint((ulong)(e.Length + unknown.Count)), .. e, .. unknown];
    }

    // contextual_data nested around and far beyond what the queue holds, as objects, lists or both.
    private static byte[] DeepStruct(Random random)
    {
        var depth = random.Next(2) == 0 ? random.Next(25, 40) : random.Next(40, 300);
        var value = Value.ForNumber(1);
        for (var i = 0; i < depth; i++)
        {
            value = random.Next(3) == 0 ? Value.ForList(value) : Value.ForStruct(new Struct { Fields = { ["a"] = value } });
        }
        var e = ValidEvent(random);
        e.ContextualData = new Struct { Fields = { ["deep"] = value } };
        return new SendEventsRequest { Events = { e } }.ToByteArray();
    }

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }
        bytes.Add((byte)value);
        return [.. bytes];
    }
}
