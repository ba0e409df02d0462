using Beacon.Protos.V1;
using Google.Protobuf;
using StackExchange.Redis;

namespace Beacon.Core.Queue;

/// <summary>
/// Reads and writes the events of a stream entry (the format is described on <see cref="QueueKeys"/>): the
/// ingestion path writes one <see cref="QueueKeys.BatchField"/> per entry; entries with one
/// <see cref="QueueKeys.EventField"/> per event (written before the batch field existed) are still read.
/// </summary>
public static class QueueEntries
{
    /// <summary>The fields of an entry holding <paramref name="events"/> (all of one store; full envelopes, no <c>shared</c>).</summary>
    public static NameValueEntry[] Fields(IEnumerable<EnrichedEvent> events) =>
        [new(QueueKeys.BatchField, new EnrichedEventBatch { Events = { events } }.ToByteArray())];

    /// <summary>The events of an entry in order, from batch and single-event fields alike; other fields are ignored.</summary>
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
                    var envelope = batch.Shared.Clone();
                    envelope.MergeFrom(own);
                    events.Add(envelope);
                }
            }
            else if (field.Name == QueueKeys.EventField)
            {
                events.Add(EnrichedEvent.Parser.ParseFrom(((ReadOnlyMemory<byte>)field.Value).Span));
            }
        }
        return events;
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
            else if (field.Name == QueueKeys.EventField)
            {
                count++;
            }
        }
        return count;
    }
}
