using System.Buffers;
using System.Text.Json;
using Beacon.Core.Events;
using Beacon.Core.Privacy;
using Beacon.Protos.Queue;

namespace Beacon.Core.Delivery;

/// <summary>
/// The body of a webhook delivery:
/// <c>{"type":"events.batch","batch_id":"msg_...","events":[{...}, ...]}</c>, each event as written by
/// <see cref="EventJson"/>. The batch id is also the <c>webhook-id</c> header and stays the same across retries.
/// </summary>
public static class WebhookPayload
{
    public const string BatchType = "events.batch";

    /// <summary>A new batch id in the Standard Webhooks style (<c>msg_</c> + a time-ordered UUID).</summary>
    public static string NewBatchId() => MessageIdOf(Guid.CreateVersion7());

    /// <summary>The <c>webhook-id</c> of the batch with this id (the worker's batch ids are Guids).</summary>
    public static string MessageIdOf(Guid batchId) => "msg_" + batchId.ToString("N");

    public const string DeletionType = "privacy.deletion";

    /// <summary>
    /// The notice sent to a store's webhook pipelines when a shopper's data is deleted, so downstream copies can go too:
    /// <c>{"type":"privacy.deletion","batch_id":"msg_...","deletion_id":"...","store_id":"...","identifier":{"device_id":"..."},
    /// "suppress":true,"requested_at":"..."}</c>.
    /// </summary>
    public static byte[] SerializeDeletion(string messageId, Guid deletionId, Guid storeId, string field, string value, bool suppress,
        DateTimeOffset requestedAt)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", DeletionType);
            writer.WriteString("batch_id", messageId);
            writer.WriteString("deletion_id", deletionId);
            writer.WriteString("store_id", storeId);
            writer.WriteStartObject("identifier");
            writer.WriteString(field, value);
            writer.WriteEndObject();
            writer.WriteBoolean("suppress", suppress);
            writer.WriteString("requested_at", requestedAt.UtcDateTime);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <param name="hasher">The pipeline's identifier hashing (<see cref="IdentifierHasher.For"/>), applied to each event as it is written.</param>
    public static byte[] Serialize(string batchId, IEnumerable<EnrichedEvent> events, IdentifierHasher? hasher, string type = BatchType)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WriteString("batch_id", batchId);
            writer.WriteStartArray("events");
            foreach (var envelope in events)
            {
                EventJson.WriteEvent(writer, hasher?.Apply(envelope) ?? envelope);
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
