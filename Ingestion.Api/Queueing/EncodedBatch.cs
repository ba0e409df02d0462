using System.Buffers;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Intake;
using Beacon.Protos.Queue;
using Beacon.Protos.V1;
using Google.Protobuf;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// One request's accepted events as the bytes of the stream entry's field (<c>Beacon.Core.Queue.QueueKeys.BatchField</c>):
/// a protobuf <c>EnrichedEventBatch</c> with, per event, a record (tag 1, length, <c>EnrichedEvent</c> holding only
/// the <c>Event</c>), then once the envelope fields every event shares (<c>shared</c>: store, source, received_at,
/// geo, device, browser, OS). Each <c>Event</c> is the event's own encoding (<see cref="IncomingEvent.WriteTo"/>: the
/// bytes a gRPC client sent, or a parsed event encoded) followed by its <see cref="EventDefaults"/>: protobuf reads
/// them as the completed event.
/// <para>
/// Encoding happens on the request's own thread (many at once), not in the queue's single writer loop. The
/// buffer is pooled: <see cref="Release"/> returns it once Redis has acknowledged the bytes, and only then.
/// </para>
/// </summary>
public sealed class EncodedBatch
{
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

    /// <summary>
    /// Encodes each event (its own encoding, then its <paramref name="defaults"/>) with the shared envelope fields of
    /// <paramref name="envelope"/> (whose Event is unset).
    /// </summary>
    public static EncodedBatch Encode(IReadOnlyList<IncomingEvent> events, IReadOnlyList<EventDefaults> defaults, EnrichedEvent envelope)
    {
        var shared = envelope.ToByteArray();
        // Per event: its own encoding's size, and with its defaults.
        var ownSizes = new int[events.Count];
        var sizes = new int[events.Count];
        var clientIds = new string?[events.Count];
        var total = ProtoWriter.DelimitedSize(EnrichedEventBatch.SharedFieldNumber, shared.Length);
        for (var i = 0; i < events.Count; i++)
        {
            ownSizes[i] = events[i].CalculateSize();
            sizes[i] = ownSizes[i] + SizeOf(defaults[i]);
            total += ProtoWriter.DelimitedSize(EnrichedEventBatch.EventsFieldNumber, ProtoWriter.DelimitedSize(EnrichedEvent.EventFieldNumber, sizes[i]));
            clientIds[i] = events[i].EventId is { Length: > 0 } id ? id : null;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        var ends = new int[events.Count];
        var offset = 0;
        for (var i = 0; i < events.Count; i++)
        {
            offset = ProtoWriter.WriteDelimitedHeader(buffer, offset, EnrichedEventBatch.EventsFieldNumber, ProtoWriter.DelimitedSize(EnrichedEvent.EventFieldNumber, sizes[i]));
            offset = ProtoWriter.WriteDelimitedHeader(buffer, offset, EnrichedEvent.EventFieldNumber, sizes[i]);
            events[i].WriteTo(buffer.AsSpan(offset, ownSizes[i]));
            offset = Write(buffer, offset + ownSizes[i], defaults[i]);
            ends[i] = offset;
        }
        offset = ProtoWriter.WriteDelimitedHeader(buffer, offset, EnrichedEventBatch.SharedFieldNumber, shared.Length);
        shared.CopyTo(buffer.AsSpan(offset));
        offset += shared.Length;
        return new EncodedBatch(buffer, offset, ends, clientIds);
    }

    private static readonly int EmptyContextualDataSize = ProtoWriter.DelimitedSize(Event.ContextualDataFieldNumber, 0);

    private static int SizeOf(EventDefaults defaults) =>
        (defaults.ServerEventId is null ? 0 : ProtoWriter.GuidTextSize(Event.EventIdFieldNumber))
        + (defaults.EmptyContextualData ? EmptyContextualDataSize : 0)
        + (defaults.ShoppingChannel is { } channel ? ProtoWriter.StringSize(Event.ShoppingChannelFieldNumber, channel) : 0);

    // After the event's own fields: protobuf takes a field's last value, and merges an empty message into none.
    private static int Write(byte[] buffer, int offset, EventDefaults defaults)
    {
        if (defaults.ServerEventId is { } id)
        {
            offset = ProtoWriter.WriteGuidText(buffer, offset, Event.EventIdFieldNumber, id);
        }
        if (defaults.EmptyContextualData)
        {
            offset = ProtoWriter.WriteDelimitedHeader(buffer, offset, Event.ContextualDataFieldNumber, 0);
        }
        if (defaults.ShoppingChannel is { } channel)
        {
            offset = ProtoWriter.WriteString(buffer, offset, Event.ShoppingChannelFieldNumber, channel);
        }
        return offset;
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
}
