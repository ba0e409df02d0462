using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Ingestion.GrpcTests.Infrastructure;

/// <summary>What is really in the Redis stream: the envelopes of one store, in stream order.</summary>
public static class QueuedEvents
{
    public static async Task<List<EnrichedEvent>> OfStoreAsync(string redisConnectionString, Guid storeId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConnectionString);
        var entries = await redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(QueueKeys.PartitionOf(storeId, 1)));
        var storeIdText = storeId.ToString();
        var envelopes = new List<EnrichedEvent>();
        foreach (var entry in entries)
        {
            // A field per batch the entry holds, all of them batches.
            Assert.NotEmpty(entry.Values);
            Assert.All(entry.Values, field => Assert.Equal(QueueKeys.BatchField, field.Name.ToString()));
            envelopes.AddRange(QueueEntries.Read(entry.Values).Where(envelope => envelope.StoreId == storeIdText));
        }
        return envelopes;
    }

    /// <summary>Stream entries that hold events of the store (batches that shared an append share one).</summary>
    public static async Task<int> EntriesOfStoreAsync(string redisConnectionString, Guid storeId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConnectionString);
        var entries = await redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(QueueKeys.PartitionOf(storeId, 1)));
        var storeIdText = storeId.ToString();
        return entries.Count(entry => QueueEntries.Read(entry.Values).Any(envelope => envelope.StoreId == storeIdText));
    }
}
