using Beacon.GrpcClient;
using Beacon.Protos.V1;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>The benchmark's prepared bytes are real, distinct catalog events (else its numbers would mean nothing).</summary>
public sealed class LoadGeneratorTests
{
    [Fact]
    public void PreparedBatchesDecodeAsValidProductViewsWithDistinctIds()
    {
        var factory = new RawBatchFactory();

        var first = EventBatch.Parser.ParseFrom(factory.StreamBatch(7, 100));
        var second = SendEventsRequest.Parser.ParseFrom(factory.SendRequest(100));

        Assert.Equal(7ul, first.Sequence);
        var all = first.Events.Concat(second.Events).ToList();
        Assert.Equal(200, all.Count);
        Assert.Equal(200, all.Select(e => e.EventId).Distinct().Count());
        Assert.All(all, e => Assert.Equal(("product_view", "8000001234"), (e.EventType, e.ProductId)));
        Assert.EndsWith("-000000000199", second.Events[^1].EventId);
    }
}
