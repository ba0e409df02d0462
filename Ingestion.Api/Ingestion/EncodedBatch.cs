using System.Buffers;
using Beacon.Protos.V1;
using Google.Protobuf;

namespace Beacon.Ingestion.Ingestion;

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
    }

    /// <summary>The entry field's bytes.</summary>
    public ReadOnlyMemory<byte> Bytes => new(_buffer ?? throw new ObjectDisposedException(nameof(EncodedBatch)), 0, Length);

    public int Length { get; }

    /// <summary>Per event, where its record ends within <see cref="Bytes"/> (so a duplicate can be cut out); the shared record follows the last.</summary>
    public int[] RecordEnds { get; }

    /// <summary>Per event, its client event_id (to dedup), or null when the server assigned the id.</summary>
    public string?[] ClientIds { get; }

    public int Count => RecordEnds.Length;

    /// <summary>Encodes <paramref name="events"/> with the shared envelope fields of <paramref name="envelope"/> (whose Event is unset).</summary>
    /// <param name="received">Per event, its bytes as received, or empty; when given, they are used with
    /// <paramref name="patches"/> (the fields the path changed) appended, instead of encoding the event.</param>
    public static EncodedBatch Encode(IReadOnlyList<Event> events, EnrichedEvent envelope, string?[] clientIds,
        IReadOnlyList<ReadOnlyMemory<byte>>? received = null, IReadOnlyList<Event?>? patches = null)
    {
        var shared = envelope.ToByteArray();
        var sizes = new int[events.Count];
        var patchSizes = new int[events.Count];
        var total = 1 + CodedOutputStream.ComputeLengthSize(shared.Length) + shared.Length;
        for (var i = 0; i < events.Count; i++)
        {
            var asReceived = received is not null && !received[i].IsEmpty;
            var size = sizes[i] = asReceived
                ? received![i].Length + (patchSizes[i] = patches?[i]?.CalculateSize() ?? 0)
                : events[i].CalculateSize();
            var enveloped = 1 + CodedOutputStream.ComputeLengthSize(size) + size;
            total += 1 + CodedOutputStream.ComputeLengthSize(enveloped) + enveloped;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        var ends = new int[events.Count];
        var offset = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var size = sizes[i];
            buffer[offset++] = EventsTag;
            offset = WriteLength(buffer, offset, 1 + CodedOutputStream.ComputeLengthSize(size) + size);
            buffer[offset++] = EventTag;
            offset = WriteLength(buffer, offset, size);
            if (received is not null && !received[i].IsEmpty)
            {
                received[i].Span.CopyTo(buffer.AsSpan(offset));
                offset += received[i].Length;
                if (patchSizes[i] > 0)
                {
                    patches![i]!.WriteTo(buffer.AsSpan(offset, patchSizes[i]));
                    offset += patchSizes[i];
                }
            }
            else
            {
                events[i].WriteTo(buffer.AsSpan(offset, size));
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

    /// <summary>Returns the buffer to the pool; call only after Redis acknowledged (a failed command may still be written later).</summary>
    public void Release()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int WriteLength(byte[] buffer, int offset, int length)
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
