using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.GrpcTests.Infrastructure;

/// <summary>Valid catalog events (Layers), each with a fresh client event id unless one is given.</summary>
public static class TestEvents
{
    public static Event ProductView(string? eventId = null, string productId = "8123456789") => new()
    {
        EventId = eventId ?? Guid.NewGuid().ToString(),
        EventType = "product_view",
        Timestamp = Timestamp.FromDateTime(new DateTime(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc)),
        SessionId = "session-1",
        ProductId = productId,
    };

    public static List<Event> ProductViews(int count) => Enumerable.Range(0, count).Select(i => ProductView(productId: $"{1000 + i}")).ToList();

    public static EventBatch Batch(ulong sequence, int events) => new() { Sequence = sequence, Events = { ProductViews(events) } };
}
