using Beacon.Ingestion.Enrichment;

namespace Beacon.Ingestion.UnitTests;

/// <summary>Server event ids are RFC 9562 UUIDv7s: time-ordered, version 7, RFC variant, random and unique.</summary>
public sealed class EventIdsTests
{
    [Fact]
    public void AnIdCarriesItsMillisecondAndTheVersionAndVariantBits()
    {
        var ms = new DateTimeOffset(2026, 11, 25, 15, 0, 0, 123, TimeSpan.Zero).ToUnixTimeMilliseconds();

        var id = EventIds.NewUuidV7(ms);

        var bytes = id.ToByteArray(bigEndian: true);
        Assert.Equal(7, id.Version);
        Assert.Equal(0b10, bytes[8] >> 6);
        var timestamp = ((long)bytes[0] << 40) | ((long)bytes[1] << 32) | ((long)bytes[2] << 24) | ((long)bytes[3] << 16) | ((long)bytes[4] << 8) | bytes[5];
        Assert.Equal(ms, timestamp);
        // The same text form Guid.CreateVersion7 gives for that millisecond (first 13 characters are time and version).
        Assert.Equal(Guid.CreateVersion7(DateTimeOffset.FromUnixTimeMilliseconds(ms)).ToString()[..15], id.ToString()[..15]);
    }

    [Fact]
    public void IdsAreUniqueAcrossThreadsAndBufferRefillsAndSortByTime()
    {
        // All in one millisecond, as a request's ids are: only the random bits can keep them apart.
        var ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var ids = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                ids.Add(EventIds.NewUuidV7(ms));
            }
        });

        Assert.Equal(200_000, ids.Distinct().Count());
        var early = EventIds.NewUuidV7(1_000);
        var late = EventIds.NewUuidV7(2_000);
        Assert.True(string.CompareOrdinal(early.ToString(), late.ToString()) < 0);
        // Random bits really vary: over 200,000 ids every value of the last byte turns up.
        Assert.Equal(256, ids.Select(g => g.ToByteArray(bigEndian: true)[15]).Distinct().Count());
    }
}
