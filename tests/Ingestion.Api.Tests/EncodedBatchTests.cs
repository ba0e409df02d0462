using Beacon.Core.Queue;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using StackExchange.Redis;

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

        var expected = new EnrichedEventBatch { Shared = envelope };
        foreach (var e in events)
        {
            expected.Events.Add(new EnrichedEvent { Event = e });
        }
        Assert.Equal(expected.ToByteArray(), batch.Bytes.ToArray());
        // Read back, every event has the whole envelope.
        var read = QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, batch.Bytes)]);
        Assert.Equal(events.Count, read.Count);
        for (var i = 0; i < events.Count; i++)
        {
            var full = envelope.Clone();
            full.Event = events[i];
            Assert.Equal(full, read[i]);
        }
        // One event's record plus the shared record is itself a valid entry: the ends are where the script may cut.
        var shared = batch.Bytes[batch.RecordEnds[^1]..];
        var start = 0;
        for (var i = 0; i < events.Count; i++)
        {
            byte[] alone = [.. batch.Bytes.Span[start..batch.RecordEnds[i]], .. shared.Span];
            Assert.Equal(read[i], Assert.Single(QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, alone)])));
            start = batch.RecordEnds[i];
        }
        batch.Release();
        Assert.Throws<ObjectDisposedException>(() => batch.Bytes);
    }
}
