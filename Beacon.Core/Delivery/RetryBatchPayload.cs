using Beacon.Protos.Queue;
using Google.Protobuf;

namespace Beacon.Core.Delivery;

/// <summary>The events of a parked retry batch (<c>retry_batches.payload</c>): one protobuf <c>EnrichedEventBatch</c> of full envelopes.</summary>
public static class RetryBatchPayload
{
    public static byte[] Of(IEnumerable<EnrichedEvent> events)
    {
        var batch = new EnrichedEventBatch();
        batch.Events.AddRange(events);
        return batch.ToByteArray();
    }

    /// <exception cref="InvalidProtocolBufferException">The payload is not an event batch.</exception>
    public static IReadOnlyList<EnrichedEvent> Read(byte[] payload) => EnrichedEventBatch.Parser.ParseFrom(payload).Events;
}
