using System.Buffers;
using Beacon.Ingestion.Grpc.Wire;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Grpc.Core;

namespace Beacon.Ingestion.Grpc;

/// <summary>
/// A request message as it arrived: <see cref="EventBytes"/> holds the bytes of each of its events (in order) and
/// <see cref="Message"/> the rest of the message, without its events. The door reads each event from its bytes
/// (<see cref="WireEvent"/>) and the queue carries those bytes instead of the event encoded again.
/// </summary>
public sealed class Received<T>(T message, ReadOnlyMemory<byte>[] eventBytes, byte[]? pooled) where T : IMessage<T>
{
    private byte[]? _pooled = pooled;

    public T Message { get; } = message;

    public int EventCount { get; } = eventBytes.Length;

    public ReadOnlyMemory<byte>[] EventBytes { get; private set; } = eventBytes;

    /// <summary>
    /// Gives the pooled buffer behind <see cref="EventBytes"/> back once nothing reads them any more (the ingestion
    /// path has copied them into the queue's bytes). Not calling it only leaves the buffer to the GC.
    /// </summary>
    public void Release()
    {
        EventBytes = [];
        if (Interlocked.Exchange(ref _pooled, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Reads a request into <see cref="Received{T}"/>: where each event's bytes are, and the rest of the message.</summary>
public static class ReceivedMarshaller
{
    public static Marshaller<Received<T>> Create<T>(MessageParser<T> parser, Func<T, RepeatedField<Protos.V1.Event>> eventsOf, int eventsField)
        where T : IMessage<T> =>
        Marshallers.Create<Received<T>>(
            (received, context) => context.Complete(received.Message.ToByteArray()),
            context =>
            {
                var length = context.PayloadLength;
                var payload = ArrayPool<byte>.Shared.Rent(length);
                context.PayloadAsReadOnlySequence().CopyTo(payload);
                try
                {
                    return Read(parser, eventsOf, eventsField, payload, length);
                }
                catch (InvalidProtocolBufferException ex)
                {
                    // Without this, grpc-dotnet answers UNKNOWN ("Exception was thrown by handler") and logs an error.
                    ArrayPool<byte>.Shared.Return(payload);
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"The request is not a valid {typeof(T).Name} message: {ex.Message}"));
                }
            });

    private static Received<T> Read<T>(MessageParser<T> parser, Func<T, RepeatedField<Protos.V1.Event>> eventsOf, int eventsField, byte[] payload, int length)
        where T : IMessage<T>
    {
        var rest = new List<byte>();
        if (FindRecords(payload, length, eventsField, rest) is { } events)
        {
            // Only the message's other fields (a stream batch's sequence: a few bytes) are parsed.
            return new Received<T>(parser.ParseFrom(rest.ToArray()), events, payload);
        }
        // Not plain proto3 (e.g. a group field): protobuf parses the whole message, which holds its events
        // only to the request's recursion limit, one level short of the queue's. Each event is encoded again
        // so the door reads and checks it from bytes like any other, rejecting it alone if the worker could
        // not read it (the group case, issue 13). Protobuf keeps unknown fields, groups included, so the
        // bytes nest as deeply as the event that arrived.
        var message = parser.ParseFrom(payload.AsSpan(0, length));
        ArrayPool<byte>.Shared.Return(payload);
        var parsed = eventsOf(message);
        var encoded = parsed.Select(e => new ReadOnlyMemory<byte>(e.ToByteArray())).ToArray();
        parsed.Clear();
        return new Received<T>(message, encoded, null);
    }

    /// <summary>
    /// The values of every record of length-delimited field <paramref name="field"/>; null if the bytes are not plain
    /// proto3 wire format. The records of the other fields are appended to <paramref name="others"/> when given.
    /// </summary>
    public static ReadOnlyMemory<byte>[]? FindRecords(byte[] payload, int length, int field, List<byte>? others = null)
    {
        var bytes = payload.AsSpan(0, length);
        var records = new List<ReadOnlyMemory<byte>>();
        var position = 0;
        while (position < length)
        {
            var start = position;
            if (!ProtoWire.TryReadTag(bytes, ref position, out var number, out var type)
                || !ProtoWire.TryReadValue(bytes, ref position, type, out _, out var value))
            {
                return null;
            }
            if (number == field && type == WireFormat.WireType.LengthDelimited)
            {
                records.Add(new ReadOnlyMemory<byte>(payload, position - value.Length, value.Length));
            }
            else
            {
                others?.AddRange(bytes[start..position]);
            }
        }
        return [.. records];
    }
}

/// <summary>
/// Binds <c>beacon.v1.EventIngest</c> to <see cref="EventIngestService"/> as the generated <c>EventIngest.BindService</c>
/// would, but reads <c>Send</c> and <c>Stream</c> requests through <see cref="ReceivedMarshaller"/>. gRPC server
/// reflection finds <see cref="Descriptor"/> here through the service's <see cref="BindServiceMethodAttribute"/>.
/// </summary>
public static class EventIngestBinding
{
    private static readonly string ServiceName = Protos.V1.EventIngest.Descriptor.FullName;

    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Protos.V1.EventIngest.Descriptor;

    private static readonly Method<Received<Protos.V1.SendEventsRequest>, Protos.V1.SendEventsResponse> SendMethod = new(
        MethodType.Unary, ServiceName, "Send",
        ReceivedMarshaller.Create(Protos.V1.SendEventsRequest.Parser, m => m.Events, Protos.V1.SendEventsRequest.EventsFieldNumber),
        Plain(Protos.V1.SendEventsResponse.Parser));

    private static readonly Method<Received<Protos.V1.EventBatch>, Protos.V1.BatchAck> StreamMethod = new(
        MethodType.DuplexStreaming, ServiceName, "Stream",
        ReceivedMarshaller.Create(Protos.V1.EventBatch.Parser, m => m.Events, Protos.V1.EventBatch.EventsFieldNumber),
        Plain(Protos.V1.BatchAck.Parser));

    public static void BindService(ServiceBinderBase binder, EventIngestService service)
    {
        binder.AddMethod(SendMethod, service is null ? null : service.Send);
        binder.AddMethod(StreamMethod, service is null ? null : service.Stream);
    }

    private static Marshaller<T> Plain<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
