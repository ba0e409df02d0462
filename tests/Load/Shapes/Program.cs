using System.Diagnostics;
using System.Globalization;
using System.Text;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

// CPU per request of each crafted JSON body shape through the JSON doors' own steps (JsonBatchReader, EventValidator,
// EncodedBatch), against a normal batch of the same size. Prints a Markdown table for docs/input-shapes.md.
// Usage: dotnet run -c Release --project tests/Load/Shapes [-- <body bytes=1000000> <seconds per shape=3>]
var size = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;

var shapes = new (string Name, string Body)[]
{
    ("normal: 100 events, contextual_data of short keys and 40-char values", Normal(size)),
    ("deep objects: siblings nested 30 levels (accepted depth)", RepeatIn(size, i => Nest("{\"a\":", "}", 30, "1"))),
    ("deep objects: 200,000 levels (over the reader's 64)", Nest("{\"a\":", "}", size / 6, "1")),
    ("deep arrays: siblings nested 55 levels", RepeatIn(size, i => Nest("[", "]", 55, "1"))),
    ("deep arrays: 500,000 levels", Nest("[", "]", size / 2, "1")),
    ("wide: [0,0,0,…] 500k numbers", Event("\"contextual_data\":{\"a\":[" + string.Join(",", Enumerable.Repeat("0", size / 2 - 150)) + "]}")),
    ("wide: [[],[],…] 330k empty arrays", Event("\"contextual_data\":{\"a\":[" + string.Join(",", Enumerable.Repeat("[]", size / 3 - 100)) + "]}")),
    ("wide: 100 events of 5,000 numbers each", "{\"events\":[" + string.Join(",", Enumerable.Repeat(
        "{\"event_type\":\"page_view\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"contextual_data\":{\"a\":[" + string.Join(",", Enumerable.Repeat("0", size / 200 - 40)) + "]}}", 100)) + "]}"),
    ("under the budget: 200 x 30 nested objects + padding", Padded(size, string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"k{i}\":" + Nest("{\"a\":", "}", 30, "1"))))),
    ("under the budget: 24,000 zeros + padding", Padded(size, "\"a\":[" + string.Join(",", Enumerable.Repeat("0", 24_000)) + "]")),
    ("under the budget: 6,000 empty objects + padding", Padded(size, "\"a\":[" + string.Join(",", Enumerable.Repeat("{}", 6_000)) + "]")),
    ("huge exponents: 1e999999 values", RepeatIn(size, i => "1e999999")),
    ("100k-digit numbers", RepeatIn(size, i => new string('7', Math.Min(100_000, size / 12)))),
    ("many keys: 50k keys in one object", Context(size, many: true)),
    ("duplicate keys: one key repeated", Context(size, many: false)),
    ("long string: one 1 MB value", Event("\"contextual_data\":{\"s\":\"" + new string('x', size - 200) + "\"}")),
    ("long string: 1 MB query (too long)", Event("\"query\":\"" + new string('x', size - 200) + "\"")),
    ("escapes: \\u0000 x 160k in a value", Event("\"contextual_data\":{\"s\":\"" + Repeat("\\u0000", (size - 200) / 6) + "\"}")),
    ("escapes: \\u0000 x 160k in a key", Event("\"contextual_data\":{\"" + Repeat("\\u0000", (size - 200) / 6) + "\":1}")),
    ("long unknown field name", Event("\"" + new string('n', size - 200) + "\":1")),
    ("many unknown fields", Event(string.Join(",", Enumerable.Range(0, size / 12).Select(i => $"\"u{i}\":1")))),
    ("many events: 100k empty objects (over 100)", "{\"events\":[" + string.Join(",", Enumerable.Repeat("{}", size / 3)) + "]}"),
    ("product_ids: 100k ids", Event("\"product_ids\":[" + string.Join(",", Enumerable.Range(0, size / 9).Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]")),
};

Console.WriteLine($"body ≈ {size:N0} bytes, {seconds} s per shape, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, " +
                  "JsonBatchReader.Read + EventValidator.Validate + EncodedBatch.Encode per request (Layers family)");
Console.WriteLine();
Console.WriteLine("| shape | body bytes | µs/request | × normal | outcome |");
Console.WriteLine("|---|---:|---:|---:|---|");
double? normal = null;
foreach (var (name, body) in shapes)
{
    var bytes = Encoding.UTF8.GetBytes(body);
    var outcome = Run(bytes);
    var micros = Measure(() => Run(bytes), seconds);
    normal ??= micros;
    Console.WriteLine($"| {name} | {bytes.Length:N0} | {micros:N0} | {micros / normal.Value:F2} | {outcome} |");
}

// The gRPC door: each event as WireEvent.Read reads it (protobuf checks those holding a Struct), then validated.
var grpcShapes = new (string Name, byte[][] Events)[]
{
    ("normal: 100 events, contextual_data of short keys and 40-char values", GrpcEvents(size, 100, i => Value.ForString(new string('v', 40)), flat: true)),
    ("deep objects: siblings nested 30 levels", GrpcEvents(size, 1, i => NestedValue(30), flat: true)),
    ("wide: 250k null values in a list", GrpcEvents(size, 1, i => Value.ForNull(), flat: false)),
    ("under the budget: 200 x 30 nested objects + padding", [GrpcPadded(size, Enumerable.Range(0, 200).Select(_ => NestedValue(30)))]),
    ("under the budget: 24,000 nulls + padding", [GrpcPadded(size, Enumerable.Range(0, 24_000).Select(_ => Value.ForNull()))]),
    ("under the budget: 6,000 empty objects + padding", [GrpcPadded(size, Enumerable.Range(0, 6_000).Select(_ => Value.ForStruct(new Struct())))]),
    ("wide: 250k empty objects in a list", GrpcEvents(size, 1, i => Value.ForStruct(new Struct()), flat: false)),
};
Console.WriteLine();
Console.WriteLine("gRPC door: WireEvent.Read (with WireNesting.Spend and WireNesting.Parse for a Struct) + EventValidator.Validate per event");
Console.WriteLine();
Console.WriteLine("| shape | message bytes | µs/request | × normal | outcome |");
Console.WriteLine("|---|---:|---:|---:|---|");
normal = null;
foreach (var (name, events) in grpcShapes)
{
    var outcome = RunGrpc(events);
    var micros = Measure(() => RunGrpc(events), seconds);
    normal ??= micros;
    Console.WriteLine($"| {name} | {events.Sum(e => e.Length):N0} | {micros:N0} | {micros / normal.Value:F2} | {outcome} |");
}
return 0;

static double Measure(Action run, double seconds)
{
    for (var i = 0; i < 3; i++)
    {
        run(); // tiered JIT
    }
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    var runs = 0;
    while (watch.Elapsed.TotalSeconds < seconds)
    {
        run();
        runs++;
    }
    return (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / runs;
}

static string RunGrpc(byte[][] events)
{
    var budget = EventNesting.MaxStructValues;
    var incoming = new IncomingEvent[events.Length];
    for (var i = 0; i < events.Length; i++)
    {
        incoming[i] = WireEvent.Read(events[i], ref budget);
    }
    return Validate(incoming).Outcome;
}

// The ingestion path's first step (IngestPath): each event's door rejection, else the catalog's verdict.
static (List<IncomingEvent> Accepted, string Outcome) Validate(IReadOnlyList<IncomingEvent> events)
{
    var accepted = new List<IncomingEvent>(events.Count);
    string? reason = null;
    for (var i = 0; i < events.Count; i++)
    {
        var problem = events[i].Rejection ?? events[i].Validate(EventFamily.Layers, i);
        if (problem is null)
        {
            accepted.Add(events[i]);
        }
        else
        {
            reason ??= problem.Reason;
        }
    }
    return (accepted, $"{accepted.Count} accepted, {events.Count - accepted.Count} rejected" + (reason is null ? "" : ": " + Shorten(reason)));
}

// `count` events filling `size` bytes, each holding values made by `value`: as keys of contextual_data, or in one list.
static byte[][] GrpcEvents(int size, int count, Func<int, Value> value, bool flat)
{
    return [.. Enumerable.Range(0, count).Select(e =>
    {
        var context = new Struct();
        var list = new ListValue();
        if (!flat)
        {
            context.Fields["a"] = new Value { ListValue = list };
        }
        // Every value made by `value` has the same size: the first tells how many fill the event.
        var one = flat ? new Struct { Fields = { ["attribute_10000"] = value(0) } }.CalculateSize() : new ListValue { Values = { value(0) } }.CalculateSize();
        for (var i = 0; i < (size / count - 200) / one; i++)
        {
            if (flat)
            {
                context.Fields["attribute_" + (10_000 + i).ToString(CultureInfo.InvariantCulture)] = value(i);
            }
            else
            {
                list.Values.Add(value(i));
            }
        }
        return new Event
        {
            EventType = "product_view", SessionId = "s" + e.ToString(CultureInfo.InvariantCulture), ProductId = "p",
            Timestamp = new Timestamp { Seconds = 1_736_951_400 }, ContextualData = context,
        }.ToByteArray();
    })];
}

// One event whose contextual_data holds `values` in a list and a string that brings the message to `size` bytes.
static byte[] GrpcPadded(int size, IEnumerable<Value> values)
{
    var context = new Struct { Fields = { ["a"] = Value.ForList([.. values]) } };
    context.Fields["pad"] = Value.ForString(new string('x', Math.Max(0, size - context.CalculateSize() - 100)));
    return new Event
    {
        EventType = "product_view", SessionId = "s", ProductId = "p", Timestamp = new Timestamp { Seconds = 1_736_951_400 }, ContextualData = context,
    }.ToByteArray();
}

static Value NestedValue(int levels)
{
    var value = Value.ForNumber(1);
    for (var i = 0; i < levels; i++)
    {
        value = Value.ForStruct(new Struct { Fields = { ["a"] = value } });
    }
    return value;
}

static string Run(byte[] body)
{
    var batch = JsonBatchReader.Read(body, EventFamily.Layers, 100);
    if (batch.Errors.Count > 0)
    {
        return "422: " + Shorten(batch.Errors[0]);
    }
    var (accepted, outcome) = Validate(batch.Events);
    if (accepted.Count > 0)
    {
        var encoded = EncodedBatch.Encode(accepted, new EventDefaults[accepted.Count], new EnrichedEvent { StoreId = "store", ReceivedAt = new Timestamp() });
        encoded.Release();
    }
    return outcome;
}

static string Shorten(string text) => (text.Length <= 70 ? text : text[..70] + "…").Replace("|", "\\|", StringComparison.Ordinal);

static string Event(string fields) =>
    "{\"events\":[{\"event_type\":\"search\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"query\":\"q\"," + fields + "}]}";

static string Repeat(string text, int count) => new StringBuilder(text.Length * count).Insert(0, text, count).ToString();

static string Nest(string open, string close, int depth, string inner) => Repeat(open, depth) + inner + Repeat(close, depth);

// One event whose contextual_data holds values made by `value` until the body reaches `size` bytes.
static string RepeatIn(int size, Func<int, string> value)
{
    var builder = new StringBuilder("{");
    for (var i = 0; builder.Length < size - 300; i++)
    {
        builder.Append(i == 0 ? "" : ",").Append("\"k").Append(i).Append("\":").Append(value(i));
    }
    return Event("\"contextual_data\":" + builder.Append('}'));
}

// One event whose contextual_data holds `members` and a string that brings the body to `size` bytes.
static string Padded(int size, string members)
{
    var body = Event("\"contextual_data\":{" + members + ",\"pad\":\"\"}");
    return body.Insert(body.Length - 5, new string('x', Math.Max(0, size - body.Length)));
}

static string Context(int size, bool many)
{
    var builder = new StringBuilder("{");
    for (var i = 0; builder.Length < size - 300; i++)
    {
        builder.Append(i == 0 ? "" : ",").Append(many ? $"\"{i:x}\":{i % 10}" : "\"k\":1");
    }
    return Event("\"contextual_data\":" + builder.Append('}'));
}

static string Normal(int size)
{
    var perEvent = size / 100;
    var events = Enumerable.Range(0, 100).Select(e =>
    {
        var context = new StringBuilder("{");
        for (var i = 0; context.Length < perEvent - 250; i++)
        {
            context.Append(i == 0 ? "" : ",").Append("\"attribute_").Append(i).Append("\":\"").Append('v', 40).Append('"');
        }
        return $"{{\"event_type\":\"product_view\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"session-{e}\",\"product_id\":\"p{e}\",\"contextual_data\":{context}}}}}";
    });
    return "{\"events\":[" + string.Join(",", events) + "]}";
}
