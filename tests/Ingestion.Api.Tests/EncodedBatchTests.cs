using Beacon.Ingestion.Ingestion;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Tests;

/// <summary>The hand-built queue bytes are exactly what protobuf itself would write for the same envelopes.</summary>
public sealed class EncodedBatchTests
{
    [Fact]
    public void TheBytesEqualTheProtobufEncodingOfTheEnvelopesAndRecordEndsMarkEachEvent()
    {
        var events = new List<Event>
        {
            new() { EventId = "a", EventType = "page_view", SessionId = "s", Timestamp = Timestamp.FromDateTime(new DateTime(2025, 1, 15, 14, 30, 0, DateTimeKind.Utc)), ContextualData = new Struct() },
            new() { EventType = "search", Query = "été 😀 " + new string('x', 300), Position = 3, ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/p") } } },
            new() { EventId = "c", EventType = "purchase", Revenue = "19.99", Currency = "EUR", ProductIds = { "p1", "p2" } },
        };
        var envelope = new EnrichedEvent
        {
            StoreId = Guid.NewGuid().ToString(), Source = "grpc", ReceivedAt = Timestamp.FromDateTime(DateTime.UtcNow),
            GeoCountry = "DE", GeoCity = "köln", DeviceType = "mobile", Browser = "Safari", Os = "iOS",
        };

        var batch = EncodedBatch.Encode(events, envelope, ["a", null, "c"]);

        var expected = new EnrichedEventBatch();
        foreach (var e in events)
        {
            var full = envelope.Clone();
            full.Event = e;
            expected.Events.Add(full);
        }
        Assert.Equal(expected.ToByteArray(), batch.Bytes.ToArray());
        Assert.Equal(batch.Length, batch.RecordEnds[^1]);
        // Each record alone parses back to its event: the ends are where the script may cut.
        var start = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var one = EnrichedEventBatch.Parser.ParseFrom(batch.Bytes.Span[start..batch.RecordEnds[i]]);
            Assert.Equal(expected.Events[i], Assert.Single(one.Events));
            start = batch.RecordEnds[i];
        }
        batch.Release();
        Assert.Throws<ObjectDisposedException>(() => batch.Bytes);
    }
}
