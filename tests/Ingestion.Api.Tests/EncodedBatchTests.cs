using Beacon.Core.Catalog;
using Beacon.Core.Queue;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using StackExchange.Redis;

namespace Beacon.Ingestion.Tests;

/// <summary>The hand-built queue bytes read as the envelopes protobuf itself would write, whichever door an event came by.</summary>
public sealed class EncodedBatchTests
{
    private static readonly EnrichedEvent Envelope = new()
    {
        StoreId = Guid.NewGuid().ToString(), Source = "grpc", ReceivedAt = Timestamp.FromDateTime(DateTime.UtcNow),
        GeoCountry = "DE", GeoCity = "köln", DeviceType = "mobile", Browser = "Safari", Os = "iOS",
    };

    [Fact]
    public void TheBytesEqualTheProtobufEncodingOfTheEnvelopesAndRecordEndsMarkEachEvent()
    {
        var events = new List<Event>
        {
            new() { EventId = "a", EventType = "page_view", SessionId = "s", Timestamp = Timestamp.FromDateTime(new DateTime(2025, 1, 15, 14, 30, 0, DateTimeKind.Utc)), ContextualData = new Struct() },
            new() { EventType = "search", Query = "été 😀 " + new string('x', 300), Position = 3, ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/p") } } },
            new() { EventId = "c", EventType = "purchase", Revenue = "19.99", Currency = "EUR", ProductIds = { "p1", "p2" } },
        };

        var batch = EncodedBatch.Encode([.. events.Select(e => new ParsedEvent(e))], new EventDefaults[events.Count], Envelope);

        var expected = new EnrichedEventBatch { Shared = Envelope };
        foreach (var e in events)
        {
            expected.Events.Add(new EnrichedEvent { Event = e });
        }
        Assert.Equal(expected.ToByteArray(), batch.Bytes.ToArray());
        Assert.Equal(new string?[] { "a", null, "c" }, batch.ClientIds);
        // Read back, every event has the whole envelope.
        var read = QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, batch.Bytes)]);
        Assert.Equal(events.Count, read.Count);
        for (var i = 0; i < events.Count; i++)
        {
            var full = Envelope.Clone();
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

    // The path's one abstraction: a parsed JSON event and the same event read from gRPC bytes get the same defaults and
    // the same normalized currency, and are queued as the same completed event.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnEventIsCompletedAndQueuedAlikeWhicheverDoorItCameBy(bool clientSetsDefaults)
    {
        var sent = new Event
        {
            EventType = "purchase", SessionId = "s", Timestamp = Timestamp.FromDateTime(new DateTime(2025, 1, 15, 14, 30, 0, DateTimeKind.Utc)),
            Revenue = "19.99", Currency = "eur", ProductIds = { "p1" },
        };
        if (clientSetsDefaults)
        {
            sent.EventId = "client-1";
            sent.ShoppingChannel = "web";
            sent.ContextualData = new Struct { Fields = { ["page"] = Value.ForString("/checkout") } };
        }
        var facts = new RequestEnrichment("DE", "", "köln", "mobile", "Safari", "iOS", "app");
        var budget = EventNesting.MaxStructValues;
        IncomingEvent[] doors = [new ParsedEvent(sent.Clone()), WireEvent.Read(sent.ToByteArray(), ref budget)];

        var queued = doors.Select(e =>
        {
            Assert.Null(e.Rejection);
            Assert.Null(e.Validate(EventFamily.Layers, 0));
            var defaults = EventEnricher.DefaultsOf(e, facts, EventFamily.Layers, 1_700_000_000_000);
            var batch = EncodedBatch.Encode([e], [defaults], Envelope);
            var read = Assert.Single(QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, batch.Bytes)]));
            batch.Release();
            return read.Event;
        }).ToArray();

        var expected = sent.Clone();
        expected.Currency = "EUR";
        expected.ShoppingChannel = clientSetsDefaults ? "web" : "app";
        expected.ContextualData ??= new Struct();
        foreach (var e in queued)
        {
            if (!clientSetsDefaults)
            {
                Assert.Equal(7, Guid.Parse(e.EventId).Version);
                expected.EventId = e.EventId;
            }
            Assert.Equal(expected, e);
        }
    }
}
