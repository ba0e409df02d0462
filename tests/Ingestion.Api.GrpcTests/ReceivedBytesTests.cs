using System.Text;
using Beacon.Core.Queue;
using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Google.Protobuf;
using Grpc.Core;
using StackExchange.Redis;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>
/// The gRPC door queues each event's bytes as they arrived, with only the fields the path changed appended:
/// what a reader of the queue sees is the same as if the event had been encoded again.
/// </summary>
public sealed class ReceivedBytesTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    // Send with the request's bytes written by hand (the generated client would encode them canonically).
    private static readonly Method<byte[], SendEventsResponse> RawSend = new(
        MethodType.Unary, EventIngest.Descriptor.FullName, "Send",
        Marshallers.Create(bytes => bytes, bytes => bytes),
        Marshallers.Create((SendEventsResponse r) => r.ToByteArray(), SendEventsResponse.Parser.ParseFrom));

    [Fact]
    public async Task AnEventIsQueuedAsReceivedWithTheServerAssignedFieldsAppended()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var withoutId = TestEvents.ProductView();
        withoutId.EventId = "";
        withoutId.Currency = "eur";
        // session_id twice: a reader takes the last; only bytes kept as received still hold the first.
        byte[] eventBytes = [.. withoutId.ToByteArray(), .. new Event { SessionId = "session-last" }.ToByteArray()];
        var request = new CodedOutputBuilder().Record(SendEventsRequest.EventsFieldNumber, eventBytes).ToArray();

        var response = await fixture.Server.Channel.CreateCallInvoker().AsyncUnaryCall(
            RawSend, null, new CallOptions(GrpcIngestionServer.TokenMetadata(store.Token)), request);

        Assert.Equal(1u, response.Accepted);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Backends.RedisConnectionString);
        var entry = (await redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0)))
            .Single(e => QueueEntries.Read(e.Values).Any(v => v.StoreId == store.StoreId.ToString()));
        byte[] stored = (byte[])entry.Values.Single().Value!;
        Assert.True(stored.AsSpan().IndexOf(eventBytes) >= 0, "the event's received bytes are in the queue as they are");
        var envelope = Assert.Single(QueueEntries.Read(entry.Values));
        Assert.Equal("session-last", envelope.Event.SessionId);
        Assert.Equal(7, Guid.Parse(envelope.Event.EventId).Version);
        Assert.Equal("EUR", envelope.Event.Currency);
        Assert.False(string.IsNullOrEmpty(envelope.Event.ShoppingChannel));
        Assert.NotNull(envelope.Event.ContextualData);
        Assert.Equal(withoutId.ProductId, envelope.Event.ProductId);
    }

    [Fact]
    public async Task BytesThatAreNoEventRejectThatEventAloneAndAnEventWithContextualDataKeepsIt()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var first = TestEvents.ProductView();
        var withContext = TestEvents.ProductView();
        withContext.ContextualData = new Google.Protobuf.WellKnownTypes.Struct
        {
            Fields = { ["screen"] = Google.Protobuf.WellKnownTypes.Value.ForString("pdp") },
        };
        var last = TestEvents.ProductView();
        byte[] notUtf8 = [.. TestEvents.ProductView().ToByteArray(), 0x22, 0x02, 0xC3, 0x28]; // session_id: not UTF-8
        byte[] truncated = [0x12, 0x40, 0x61]; // event_type said to be 64 bytes long, 1 follows
        var request = new CodedOutputBuilder()
            .Record(SendEventsRequest.EventsFieldNumber, first.ToByteArray())
            .Record(SendEventsRequest.EventsFieldNumber, notUtf8)
            .Record(SendEventsRequest.EventsFieldNumber, withContext.ToByteArray())
            .Record(SendEventsRequest.EventsFieldNumber, truncated)
            .Record(SendEventsRequest.EventsFieldNumber, last.ToByteArray())
            .ToArray();

        var response = await fixture.Server.Channel.CreateCallInvoker().AsyncUnaryCall(
            RawSend, null, new CallOptions(GrpcIngestionServer.TokenMetadata(store.Token)), request);

        Assert.Equal((3u, 2u), (response.Accepted, response.Rejected));
        Assert.Equal([1u, 3u], response.Rejections.Select(r => r.Index));
        Assert.All(response.Rejections, r => Assert.StartsWith("event is not a valid beacon.v1.Event message", r.Reason));
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal([first.EventId, withContext.EventId, last.EventId], queued.Select(e => e.Event.EventId));
        Assert.Equal("pdp", queued[1].Event.ContextualData.Fields["screen"].StringValue);
    }

    [Fact]
    public async Task AnEventNestedTooDeeplyForTheQueueIsRejectedAloneAndTheRestIsStoredReadably()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var first = TestEvents.ProductView();
        var tooDeep = TestEvents.ProductView();
        tooDeep.ContextualData = NestedStruct(33);
        var deepest = TestEvents.ProductView();
        deepest.ContextualData = NestedStruct(32);

        var response = await fixture.Server.Client.SendAsync(
            new SendEventsRequest { Events = { first, tooDeep, deepest } }, GrpcIngestionServer.TokenMetadata(store.Token));

        Assert.Equal((2u, 1u), (response.Accepted, response.Rejected));
        Assert.Equal(1u, response.Rejections.Single().Index);
        Assert.Contains("too many levels of nesting", response.Rejections.Single().Reason);
        // Read as the worker reads the stream: one event too deep would have made the whole entry unreadable.
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal([first.EventId, deepest.EventId], queued.Select(e => e.Event.EventId));
    }

    // A group anywhere in a request (here an empty one after the events) is not plain proto3, so the door parses
    // the whole request with protobuf instead of finding each event's bytes. Every event must still be held to the
    // nesting the worker can read: an event of 99 levels fits under the request's limit of 100, not under the queue's.
    [Fact]
    public async Task ARequestWithAGroupFieldHasItsEventsCheckedAsIfReadFromTheirOwnBytes()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        var first = TestEvents.ProductView();
        var tooDeep = TestEvents.ProductView();
        tooDeep.ContextualData = NestedStruct(33);
        // 99 unknown groups inside the event: protobuf keeps them and counts each as a level of nesting.
        byte[] deepGroups = [.. TestEvents.ProductView().ToByteArray(), .. NestedGroups(99, 99)];
        var last = TestEvents.ProductView();
        byte[] emptyGroup = [(15 << 3) | 3, (15 << 3) | 4];
        var request = new CodedOutputBuilder()
            .Record(SendEventsRequest.EventsFieldNumber, first.ToByteArray())
            .Record(SendEventsRequest.EventsFieldNumber, tooDeep.ToByteArray())
            .Record(SendEventsRequest.EventsFieldNumber, deepGroups)
            .Record(SendEventsRequest.EventsFieldNumber, last.ToByteArray())
            .ToArray();

        var response = await fixture.Server.Channel.CreateCallInvoker().AsyncUnaryCall(
            RawSend, null, new CallOptions(GrpcIngestionServer.TokenMetadata(store.Token)), [.. request, .. emptyGroup]);

        Assert.Equal((2u, 2u), (response.Accepted, response.Rejected));
        Assert.Equal([1u, 2u], response.Rejections.Select(r => r.Index));
        Assert.All(response.Rejections, r => Assert.Contains("too many levels of nesting", r.Reason));
        // Read as the worker reads the stream: before, the whole entry was unreadable and the worker dropped it.
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal([first.EventId, last.EventId], queued.Select(e => e.Event.EventId));
    }

    [Fact]
    public void RecordsOfAFieldAreFoundAndMalformedBytesAreRefused()
    {
        var batch = TestEvents.Batch(7, 3);
        var bytes = batch.ToByteArray();

        var records = Grpc.Wire.ReceivedMarshaller.FindRecords(bytes, bytes.Length, EventBatch.EventsFieldNumber);

        Assert.NotNull(records);
        Assert.Equal(batch.Events.Select(e => e.ToByteArray()), records.Select(r => r.ToArray()));
        byte[] truncated = [.. bytes, 0x12, 0x40];
        Assert.Null(Grpc.Wire.ReceivedMarshaller.FindRecords(truncated, truncated.Length, EventBatch.EventsFieldNumber));
        // Only the first `length` bytes count, as with a pooled buffer longer than the message.
        byte[] padded = [.. bytes, 0x12, 0x40, 0xFF, 0xFF];
        Assert.Equal(3, Grpc.Wire.ReceivedMarshaller.FindRecords(padded, bytes.Length, EventBatch.EventsFieldNumber)!.Length);
    }

    private static Google.Protobuf.WellKnownTypes.Struct NestedStruct(int objects)
    {
        var value = new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["k"] = Google.Protobuf.WellKnownTypes.Value.ForNumber(1) } };
        for (var i = 1; i < objects; i++)
        {
            value = new Google.Protobuf.WellKnownTypes.Struct { Fields = { ["k"] = Google.Protobuf.WellKnownTypes.Value.ForStruct(value) } };
        }
        return value;
    }

    // `depth` groups of field `field`, each inside the one before.
    private static byte[] NestedGroups(int field, int depth)
    {
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream, leaveOpen: true);
        for (var i = 0; i < depth; i++)
        {
            output.WriteTag(field, WireFormat.WireType.StartGroup);
        }
        for (var i = 0; i < depth; i++)
        {
            output.WriteTag(field, WireFormat.WireType.EndGroup);
        }
        output.Flush();
        return stream.ToArray();
    }

    private sealed class CodedOutputBuilder
    {
        private readonly MemoryStream _stream = new();

        public CodedOutputBuilder Record(int field, byte[] value)
        {
            var output = new CodedOutputStream(_stream, leaveOpen: true);
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(value));
            output.Flush();
            return this;
        }

        public byte[] ToArray() => _stream.ToArray();
    }
}
