using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Grpc.Core;

namespace Beacon.Ingestion.Grpc.Wire;

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
