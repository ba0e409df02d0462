using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>Reads what Ingestion.Api queued, as Pipelines.Worker would see it (DESIGN §4: one entry per request).</summary>
public sealed class EventStream(IConnectionMultiplexer redis)
{
    /// <summary>Every queued event of a store, in stream order.</summary>
    public async Task<IReadOnlyList<EnrichedEvent>> EventsOfAsync(Guid storeId)
    {
        var events = new List<EnrichedEvent>();
        foreach (var entry in await BatchesOfAsync(storeId))
        {
            events.AddRange(entry);
        }
        return events;
    }

    /// <summary>
    /// The store's batches, one per accepted request, each with its events: a batch field of a stream entry (requests
    /// that shared an append share an entry).
    /// </summary>
    public async Task<IReadOnlyList<IReadOnlyList<EnrichedEvent>>> BatchesOfAsync(Guid storeId)
    {
        var stream = QueueKeys.Stream(QueueKeys.PartitionOf(storeId, new QueueOptions().Partitions));
        var entries = await redis.GetDatabase().StreamRangeAsync(stream, "-", "+");
        var result = new List<IReadOnlyList<EnrichedEvent>>();
        foreach (var field in entries.SelectMany(e => e.Values))
        {
            var events = QueueEntries.Read([field])
                .Where(e => Guid.TryParse(e.StoreId, out var id) && id == storeId)
                .ToList();
            if (events.Count > 0)
            {
                result.Add(events);
            }
        }
        return result;
    }

    /// <summary>Polls until the store has at least <paramref name="count"/> events, or the timeout passes.</summary>
    public async Task<IReadOnlyList<EnrichedEvent>> WaitForEventsAsync(Guid storeId, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var events = await EventsOfAsync(storeId);
            if (events.Count >= count || DateTime.UtcNow > deadline)
            {
                return events;
            }
            await Task.Delay(100);
        }
    }
}
