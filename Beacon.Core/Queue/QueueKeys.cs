using System.IO.Hashing;
using Beacon.Protos.Queue;

namespace Beacon.Core.Queue;

/// <summary>
/// The queue contract between Ingestion.Api and Pipelines.Worker (DESIGN §4).
/// Each stream entry holds accepted events of one store: one field <see cref="BatchField"/> per request whose
/// events it holds (requests that shared an append share an entry), each a protobuf <c>EnrichedEventBatch</c>: the
/// request's events in order, and once the envelope fields they share (<c>shared</c>; <see cref="QueueEntries.Read"/>
/// merges them back and reads every field in order). A field per request keeps Redis' work per event to copying
/// bytes. Keys of a partition share a Redis Cluster hash tag (<c>{p0}</c>), so a
/// partition's stream and its dedup hashes live on one shard and can be updated by one script.
/// </summary>
public static class QueueKeys
{
    /// <summary>Field of a stream entry holding its events as one protobuf <c>EnrichedEventBatch</c>.</summary>
    public const string BatchField = "b";

    /// <summary>The consumer group of Pipelines.Worker.</summary>
    public const string ConsumerGroup = "pipelines";

    /// <summary>The partition a store's events go to.</summary>
    public static int PartitionOf(Guid storeId, int partitions)
    {
        if (partitions <= 1)
        {
            return 0;
        }
        Span<byte> bytes = stackalloc byte[16];
        storeId.TryWriteBytes(bytes);
        return (int)(XxHash32.HashToUInt32(bytes) % (uint)partitions);
    }

    public static string HashTag(int partition) => $"{{p{partition}}}";

    /// <summary>The stream of a partition, e.g. <c>beacon:{p0}:events</c>.</summary>
    public static string Stream(int partition) => $"beacon:{HashTag(partition)}:events";

    /// <summary>
    /// Prefix of a store's dedup hashes (same hash tag as the store's stream): one hash per time bucket of the
    /// dedup window, <c>&lt;prefix&gt;:&lt;bucket&gt;</c> with bucket = Redis time in ms / window in ms, whose
    /// fields are the client event ids seen in it (the ingestion script appends the bucket).
    /// </summary>
    public static string DedupPrefix(int partition, Guid storeId) => $"beacon:{HashTag(partition)}:dedup:{storeId:N}";

    public static IEnumerable<string> AllStreams(int partitions) =>
        Enumerable.Range(0, Math.Max(1, partitions)).Select(Stream);
}
