using System.Net;
using System.Text;

namespace Beacon.Ingestion.Tests;

/// <summary>Thousands of malformed bodies: every one gets a 2xx or 4xx answer, never a 5xx, and the service stays up.</summary>
public sealed class FuzzTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    private static readonly string[] Fields =
    [
        "event_id", "event_type", "timestamp", "session_id", "device_id", "customer_id", "attribution_token", "product_id",
        "variant_id", "collection_handle", "query", "position", "contextual_data", "shopping_channel", "revenue", "currency",
        "marketing_source", "visitorId", "productIds", "metadata",
    ];

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1e309", "-0.0", "18446744073709551616", "3.5", "\"\"", "\"x\"", "[]", "{}", "[1,[2,[3]]]",
        "{\"a\":{\"b\":null}}", "\"2025-13-45T99:99:99Z\"", "\"\\ud800\"", "\"\\u0000\"", "\"" + new string('a', 5000) + "\"",
        "\"product_view\"", "\"purchase\"", "\"2025-01-15T14:30:00Z\"", "1.7976931348623157e308",
    ];

    [Fact]
    public async Task MalformedBodiesNeverCauseA5xx()
    {
        // Limits high enough that the Alana door parses every body instead of answering 429.
        var store = await host.CreateStoreAsync(perMinute: 1_000_000, perIpPerMinute: 1_000_000);
        var client = host.CreateClient();
        var random = new Random(20250115);
        var bodies = new List<byte[]>();
        for (var i = 0; i < 3000; i++)
        {
            bodies.Add((i % 6) switch
            {
                0 => RandomBytes(random),
                1 => DeepNesting(random),
                2 => WrongTypes(random),
                3 => InvalidUtf8(random),
                4 => Mutated(random),
                _ => HugeStrings(random),
            });
        }

        var failures = new List<string>();
        var statuses = new Dictionary<HttpStatusCode, int>();
        await Parallel.ForEachAsync(bodies.Select((body, index) => (body, index)), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (item, cancellationToken) =>
            {
                var query = item.index % 2 == 0 ? "?validate=1&token=" : "?token=";
                var path = item.index % 5 == 0 ? "/api/v1/events" : "/beacon";
                var response = await client.PostAsync(path + query + Uri.EscapeDataString(store.Token), new ByteArrayContent(item.body), cancellationToken);
                lock (statuses)
                {
                    statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Add($"{(int)response.StatusCode} for body #{item.index}: {Convert.ToBase64String(item.body.AsSpan(0, Math.Min(200, item.body.Length)))}");
                    }
                }
            });

        Assert.Empty(failures);
        Assert.True(statuses.GetValueOrDefault(HttpStatusCode.UnprocessableEntity) > 1000, string.Join(", ", statuses));
        Assert.False(statuses.ContainsKey(HttpStatusCode.TooManyRequests), string.Join(", ", statuses));
        var health = await client.PostAsync("/beacon?token=" + Uri.EscapeDataString(store.Token), IngestionHost.Json(IngestionHost.SeedPayload));
        Assert.Equal(HttpStatusCode.Created, health.StatusCode);
    }

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
        var builder = new StringBuilder("{\"events\":[{\"event_type\":\"page_view\",\"contextual_data\":");
        for (var i = 0; i < depth; i++)
        {
            builder.Append(open);
        }
        builder.Append('1');
        var close = open == "[" ? "]" : "}";
        for (var i = 0; i < depth; i++)
        {
            builder.Append(close);
        }
        builder.Append("}]}");
        return Encoding.UTF8.GetBytes(builder.ToString());
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
        return Encoding.UTF8.GetBytes(top);
    }

    private static byte[] InvalidUtf8(Random random)
    {
        var prefix = Encoding.UTF8.GetBytes("{\"events\":[{\"event_type\":\"search\",\"timestamp\":\"2025-01-15T14:30:00Z\",\"session_id\":\"s\",\"query\":\"");
        byte[][] bad = [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0x80]];
        var middle = bad[random.Next(bad.Length)];
        var suffix = Encoding.UTF8.GetBytes(random.Next(2) == 0 ? "\"}]}" : "\":1}]}");
        var inName = random.Next(3) == 0;
        return inName
            ? [.. Encoding.UTF8.GetBytes("{\"events\":[{\""), .. middle, .. Encoding.UTF8.GetBytes("\":1}]}")]
            : [.. prefix, .. middle, .. suffix];
    }

    private static byte[] Mutated(Random random)
    {
        var bytes = Encoding.UTF8.GetBytes(IngestionHost.SeedPayload);
        var mutations = random.Next(1, 6);
        for (var i = 0; i < mutations; i++)
        {
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
        }
        return random.Next(3) == 0 ? bytes[..random.Next(bytes.Length)] : bytes;
    }

    private static byte[] HugeStrings(Random random)
    {
        var length = random.Next(1_000, 600_000);
        var field = Fields[random.Next(Fields.Length)];
        return Encoding.UTF8.GetBytes($$"""{"events":[{"event_type":"search","timestamp":"2025-01-15T14:30:00Z","session_id":"s","query":"q","{{field}}":"{{new string('z', length)}}"}]}""");
    }
}
