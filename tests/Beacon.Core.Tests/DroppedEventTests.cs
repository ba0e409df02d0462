using Beacon.Core.Drops;

namespace Beacon.Core.Tests;

/// <summary>The drop log's record is one JSON format for the services that write it and for Admin.Web, which reads it.</summary>
public sealed class DroppedEventTests
{
    [Fact]
    public void ARecordIsWrittenInSnakeCaseWithoutAnAbsentEventIdAndReadBackWhole()
    {
        var at = new DateTimeOffset(2026, 12, 2, 11, 25, 2, TimeSpan.Zero);
        var withoutId = new DroppedEvent(at, "grpc", 3, "product_view", "missing_field", "missing required field product_id");
        var withId = withoutId with { EventId = "ev-1" };

        Assert.Equal("""{"at":"2026-12-02T11:25:02+00:00","source":"grpc","index":3,"event_type":"product_view","code":"missing_field","reason":"missing required field product_id"}""",
            withoutId.ToJson());
        Assert.EndsWith(""","event_id":"ev-1"}""", withId.ToJson());
        Assert.Equal(withoutId, DroppedEvent.FromJson(withoutId.ToJson()));
        Assert.Equal(withId, DroppedEvent.FromJson(withId.ToJson()));
    }
}
