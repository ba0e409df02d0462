using Beacon.Protos.V1;
using Google.Protobuf;
using StackExchange.Redis;

namespace Beacon.Core.Queue;

/// <summary>
/// Reads and writes the events of a stream entry (the format is described on <see cref="QueueKeys"/>): the
/// ingestion path writes one <see cref="QueueKeys.BatchField"/> per request. An entry with no such field holds no events
/// the worker can read, and goes to the quarantine.
/// </summary>
public static class QueueEntries
{
    private static readonly EnrichedEvent EmptyEnvelope = new();

    /// <summary>
    /// The fields of an entry holding <paramref name="events"/> (full envelopes), as ingestion writes them: when
    /// every envelope field but the event is the same for all, those are stored once (<c>shared</c>).
    /// </summary>
    public static NameValueEntry[] Fields(IReadOnlyList<EnrichedEvent> events)
    {
        var shared = events.Count > 0 ? events[0].Clone() : null;
        shared?.Event = null;
        var batch = new EnrichedEventBatch();
        if (shared is not null && events.All(e => HasSharedFields(e, shared)))
        {
            batch.Shared = shared;
            batch.Events.AddRange(events.Select(e => new EnrichedEvent { Event = e.Event }));
        }
        else
        {
            batch.Events.AddRange(events);
        }
        return [new(QueueKeys.BatchField, batch.ToByteArray())];
    }

    // Whether the envelope is the shared fields plus its event (compared without copying the event).
    private static bool HasSharedFields(EnrichedEvent envelope, EnrichedEvent shared)
    {
        var probe = shared.Clone();
        probe.Event = envelope.Event;
        return probe.Equals(envelope);
    }

    /// <summary>The events of an entry in order, from every batch field; other fields are ignored.</summary>
    /// <exception cref="InvalidProtocolBufferException">A field holds bytes that are not an envelope or a batch.</exception>
    public static List<EnrichedEvent> Read(IEnumerable<NameValueEntry> fields)
    {
        var events = new List<EnrichedEvent>();
        foreach (var field in fields)
        {
            if (field.Name == QueueKeys.BatchField)
            {
                var batch = EnrichedEventBatch.Parser.ParseFrom(((ReadOnlyMemory<byte>)field.Value).Span);
                if (batch.Shared is null)
                {
                    events.AddRange(batch.Events);
                    continue;
                }
                foreach (var own in batch.Events)
                {
                    // Usually an event's own envelope holds only the event: then the event object is taken over
                    // as it is; anything else it holds is merged over the shared fields.
                    var e = own.Event;
                    own.Event = null;
                    var envelope = batch.Shared.Clone();
                    if (!own.Equals(EmptyEnvelope))
                    {
                        envelope.MergeFrom(own);
                    }
                    envelope.Event = e;
                    events.Add(envelope);
                }
            }
        }
        return events;
    }

    /// <summary>
    /// The store an entry's envelopes name, read from their <c>store_id</c> alone without decoding their events: for
    /// an entry whose events cannot be read (the quarantine). Null when no envelope names one that can be read.
    /// </summary>
    public static Guid? StoreIdOf(IEnumerable<NameValueEntry> fields)
    {
        foreach (var field in fields)
        {
            try
            {
                if (field.Name == QueueKeys.BatchField)
                {
                    var input = new CodedInputStream((byte[])field.Value!);
                    for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
                    {
                        if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited
                            || WireFormat.GetTagFieldNumber(tag) is not (EnrichedEventBatch.EventsFieldNumber or EnrichedEventBatch.SharedFieldNumber))
                        {
                            input.SkipLastField();
                        }
                        else if (StoreIdOfEnvelope(input.ReadBytes()) is { } storeId)
                        {
                            return storeId;
                        }
                    }
                }
            }
            catch (InvalidProtocolBufferException)
            {
                // The bytes end where they stop being protobuf: nothing further in this field can be trusted.
            }
        }
        return null;
    }

    private static Guid? StoreIdOfEnvelope(ByteString envelope)
    {
        var input = envelope.CreateCodedInput();
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            if (tag == WireFormat.MakeTag(EnrichedEvent.StoreIdFieldNumber, WireFormat.WireType.LengthDelimited))
            {
                return Guid.TryParse(input.ReadString(), out var storeId) ? storeId : null;
            }
            input.SkipLastField();
        }
        return null;
    }

    /// <summary>How many events an entry holds, without decoding them (for counting a stream).</summary>
    public static int Count(IEnumerable<NameValueEntry> fields)
    {
        var count = 0;
        foreach (var field in fields)
        {
            if (field.Name == QueueKeys.BatchField)
            {
                // An EnrichedEventBatch is a sequence of (tag, length, envelope) records: count the events' (field 1).
                var input = new CodedInputStream((byte[])field.Value!);
                for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
                {
                    if (WireFormat.GetTagFieldNumber(tag) == EnrichedEventBatch.EventsFieldNumber)
                    {
                        count++;
                    }
                    input.SkipLastField();
                }
            }
        }
        return count;
    }
}
