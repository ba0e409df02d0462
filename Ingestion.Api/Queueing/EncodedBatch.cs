using System.Buffers;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// One request's accepted events as the bytes of the stream entry's field (<c>Beacon.Core.Queue.QueueKeys.BatchField</c>):
/// a protobuf <c>EnrichedEventBatch</c> with, per event, a record (tag 1, length, <c>EnrichedEvent</c> holding only
/// the <c>Event</c>), then once the envelope fields every event shares (<c>shared</c>: store, source, received_at,
/// geo, device, browser, OS). The bytes equal protobuf's own encoding of that message.
/// <para>
/// Encoding happens on the request's own thread (many at once), not in the queue's single writer loop. The
/// buffer is pooled: <see cref="Release"/> returns it once Redis has acknowledged the bytes, and only then.
/// </para>
/// </summary>
public sealed class EncodedBatch
{
    private const byte EventsTag = (EnrichedEventBatch.EventsFieldNumber << 3) | (byte)WireFormat.WireType.LengthDelimited;
    private const byte SharedTag = (EnrichedEventBatch.SharedFieldNumber << 3) | (byte)WireFormat.WireType.LengthDelimited;
    private const byte EventTag = (EnrichedEvent.EventFieldNumber << 3) | (byte)WireFormat.WireType.LengthDelimited;

    private byte[]? _buffer;

    private EncodedBatch(byte[] buffer, int length, int[] recordEnds, string?[] clientIds)
    {
        _buffer = buffer;
        Length = length;
        RecordEnds = recordEnds;
        ClientIds = clientIds;
        HasClientIds = Array.Exists(clientIds, id => id is not null);
    }

    /// <summary>The entry field's bytes.</summary>
    public ReadOnlyMemory<byte> Bytes => new(_buffer ?? throw new ObjectDisposedException(nameof(EncodedBatch)), 0, Length);

    public int Length { get; }

    /// <summary>Per event, where its record ends within <see cref="Bytes"/> (so a duplicate can be cut out); the shared record follows the last.</summary>
    public int[] RecordEnds { get; }

    /// <summary>Per event, its client event_id (to dedup), or null when the server assigned the id.</summary>
    public string?[] ClientIds { get; }

    /// <summary>Whether any event carries a client event_id, so the batch needs dedup.</summary>
    public bool HasClientIds { get; }

    public int Count => RecordEnds.Length;

    /// <summary>Encodes <paramref name="events"/> with the shared envelope fields of <paramref name="envelope"/> (whose Event is unset).</summary>
    /// <param name="asReceived">Null, or per event its bytes as received (empty when it has none) with the fields the
    /// path changed: such an event is written as those bytes plus the patch, instead of being encoded.</param>
    public static EncodedBatch Encode(IReadOnlyList<Event?> events, EnrichedEvent envelope, string?[] clientIds, ReceivedEvent[]? asReceived = null)
    {
        var shared = envelope.ToByteArray();
        var sizes = new int[events.Count];
        var envelopeSizes = new int[events.Count];
        var total = 1 + CodedOutputStream.ComputeLengthSize(shared.Length) + shared.Length;
        for (var i = 0; i < events.Count; i++)
        {
            var size = sizes[i] = IsReceived(asReceived, i) ? asReceived![i].Size : events[i]!.CalculateSize();
            var enveloped = envelopeSizes[i] = 1 + CodedOutputStream.ComputeLengthSize(size) + size;
            total += 1 + CodedOutputStream.ComputeLengthSize(enveloped) + enveloped;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        var ends = new int[events.Count];
        var offset = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var size = sizes[i];
            buffer[offset++] = EventsTag;
            offset = WriteLength(buffer, offset, envelopeSizes[i]);
            buffer[offset++] = EventTag;
            offset = WriteLength(buffer, offset, size);
            if (IsReceived(asReceived, i))
            {
                offset = asReceived![i].WriteTo(buffer, offset);
            }
            else
            {
                events[i]!.WriteTo(buffer.AsSpan(offset, size));
                offset += size;
            }
            ends[i] = offset;
        }
        buffer[offset++] = SharedTag;
        offset = WriteLength(buffer, offset, shared.Length);
        shared.CopyTo(buffer.AsSpan(offset));
        offset += shared.Length;
        return new EncodedBatch(buffer, offset, ends, clientIds);
    }

    private static bool IsReceived(ReceivedEvent[]? asReceived, int i) => asReceived is not null && !asReceived[i].Bytes.IsEmpty;

    /// <summary>Returns the buffer to the pool; call only after Redis acknowledged (a failed command may still be written later).</summary>
    public void Release()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static int WriteLength(byte[] buffer, int offset, int length)
    {
        var value = (uint)length;
        while (value >= 0x80)
        {
            buffer[offset++] = (byte)(value | 0x80);
            value >>= 7;
        }
        buffer[offset++] = (byte)value;
        return offset;
    }
}

/// <summary>An event's protobuf bytes as received, and the fields the ingestion path changed, written after them.</summary>
public readonly record struct ReceivedEvent(ReadOnlyMemory<byte> Bytes, EventPatch Patch)
{
    public int Size => Bytes.Length + Patch.Size;

    /// <summary>Writes the bytes, then the patch, at <paramref name="offset"/>; returns where they end.</summary>
    public int WriteTo(byte[] buffer, int offset)
    {
        Bytes.Span.CopyTo(buffer.AsSpan(offset));
        return Patch.WriteTo(buffer, offset + Bytes.Length);
    }
}

/// <summary>
/// The fields of a received event that the ingestion path set or changed, encoded after the event's received bytes
/// (a later value of a field wins when protobuf reads it): the server's event id, the inferred shopping channel,
/// an empty <c>contextual_data</c>, the upper-cased currency. Null or false: not changed.
/// </summary>
public readonly record struct EventPatch(Guid? ServerEventId, string? ShoppingChannel, bool EmptyContextualData, string? Currency)
{
    private static readonly int ContextualDataSize = CodedOutputStream.ComputeTagSize(Event.ContextualDataFieldNumber) + 1;

    // A Guid's "D" text: 36 ASCII characters, lower case, as Guid.ToString() gives it.
    private const int GuidTextLength = 36;
    private static readonly int ServerEventIdSize =
        CodedOutputStream.ComputeTagSize(Event.EventIdFieldNumber) + CodedOutputStream.ComputeLengthSize(GuidTextLength) + GuidTextLength;

    public int Size =>
        (ServerEventId is null ? 0 : ServerEventIdSize)
        + StringSize(Event.ShoppingChannelFieldNumber, ShoppingChannel)
        + (EmptyContextualData ? ContextualDataSize : 0)
        + StringSize(Event.CurrencyFieldNumber, Currency);

    /// <summary>Writes the fields in field-number order at <paramref name="offset"/>; returns where they end.</summary>
    public int WriteTo(byte[] buffer, int offset)
    {
        if (ServerEventId is { } id)
        {
            offset = EncodedBatch.WriteLength(buffer, offset, Tag(Event.EventIdFieldNumber));
            buffer[offset++] = GuidTextLength;
            // Straight to UTF-8: no string, no transcoding.
            id.TryFormat(buffer.AsSpan(offset, GuidTextLength), out var written);
            offset += written;
        }
        if (EmptyContextualData)
        {
            offset = EncodedBatch.WriteLength(buffer, offset, Tag(Event.ContextualDataFieldNumber));
            buffer[offset++] = 0;
        }
        offset = WriteString(buffer, offset, Event.ShoppingChannelFieldNumber, ShoppingChannel);
        return WriteString(buffer, offset, Event.CurrencyFieldNumber, Currency);
    }

    private static int Tag(int field) => (field << 3) | (int)WireFormat.WireType.LengthDelimited;

    private static int StringSize(int field, string? value) =>
        value is null ? 0 : CodedOutputStream.ComputeTagSize(field) + CodedOutputStream.ComputeStringSize(value);

    private static int WriteString(byte[] buffer, int offset, int field, string? value)
    {
        if (value is null)
        {
            return offset;
        }
        offset = EncodedBatch.WriteLength(buffer, offset, Tag(field));
        offset = EncodedBatch.WriteLength(buffer, offset, System.Text.Encoding.UTF8.GetByteCount(value));
        return offset + System.Text.Encoding.UTF8.GetBytes(value, buffer.AsSpan(offset));
    }
}
