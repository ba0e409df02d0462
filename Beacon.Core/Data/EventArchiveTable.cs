using System.IO.Hashing;
using System.Text;
using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Core.Data;

/// <summary>
/// The archive of every accepted event (DESIGN §10), whatever pipelines exist: one row per ingested batch (the
/// events of one stream entry that share a store and a <c>received_at</c>), holding the queue's own protobuf
/// <c>EnrichedEventBatch</c> bytes (the shared envelope once, then each event), the batch's event ids and a Bloom filter
/// of them (<c>event_id_filter</c>, <see cref="IdFilter"/>). A row per batch rather than per event keeps the write cost
/// low: one heap tuple and one btree entry for up to 100 events. An event is found by id by walking the store's rows on
/// that btree and testing each row's filter (a few bytes kept in the row), not through an index entry per event: a GIN
/// on <c>event_ids</c> cost two thirds of the archive's Postgres CPU (docs/debugging.md). Day-partitioned on <c>received_at</c> so retention drops whole days. Written by the worker with
/// binary COPY before it acks an entry; requests that shared a stream entry have a row each under one
/// (<c>received_at</c>, <c>entry_id</c>), and a reclaimed entry may be written twice, so readers page by whole keys and
/// drop a row whose bytes they already read under its key. Outside EF's model like <see cref="EventsTable"/>.
/// </summary>
public static class EventArchiveTable
{
    public const string Name = "event_archive";

    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS event_archive (
            store_id uuid NOT NULL,
            received_at timestamptz NOT NULL,
            entry_id text NOT NULL,
            event_ids text[] NOT NULL,
            events bytea NOT NULL
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE IF NOT EXISTS event_archive_default PARTITION OF event_archive DEFAULT;
        CREATE INDEX IF NOT EXISTS ix_event_archive_store_received ON event_archive (store_id, received_at, entry_id);
        CREATE INDEX IF NOT EXISTS ix_event_archive_event_ids ON event_archive USING gin (event_ids);
        """;

    public const string DropSql = "DROP TABLE IF EXISTS event_archive;";

    /// <summary>The event ids' Bloom filter replaces their GIN index (a row written without a filter is tested on its ids).</summary>
    public const string IdFilterSql = """
        ALTER TABLE event_archive ADD COLUMN IF NOT EXISTS event_id_filter bytea NULL;
        DROP INDEX IF EXISTS ix_event_archive_event_ids;
        """;

    public const string IdFilterDropSql = """
        CREATE INDEX IF NOT EXISTS ix_event_archive_event_ids ON event_archive USING gin (event_ids);
        ALTER TABLE event_archive DROP COLUMN IF EXISTS event_id_filter;
        """;

    /// <summary>
    /// The condition of a row holding any of the ids <c>$2</c> (text[]) of the store <c>$1</c>, given their
    /// <see cref="Probes"/> as <c>$3</c> and <c>$4</c> (bigint[]): the filter first, so only a match (or a false
    /// positive, ~0.2%) reads the ids.
    /// </summary>
    public const string HoldsAnyIdSql = """
        store_id = $1 AND CASE WHEN event_id_filter IS NULL OR EXISTS (
            SELECT 1 FROM unnest($3::bigint[], $4::bigint[]) AS p(h1, h2)
            WHERE get_bit(event_id_filter, (p.h1 % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + p.h2) % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + 2 * p.h2) % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + 3 * p.h2) % (8 * length(event_id_filter)))::int) = 1)
        THEN event_ids && $2::text[] ELSE false END
        """;

    private const int BitsPerId = 16; // with 4 probes: ~0.24% false positives
    private const int ProbeCount = 4;

    /// <summary>The Bloom filter of a row's event ids: 16 bits an id, so 200 bytes for a batch of 100.</summary>
    public static byte[] IdFilter(IReadOnlyList<string> eventIds)
    {
        var filter = new byte[Math.Max(1, eventIds.Count) * BitsPerId / 8];
        var bits = (long)filter.Length * 8;
        foreach (var id in eventIds)
        {
            var (h1, h2) = Probe(id);
            for (var i = 0; i < ProbeCount; i++)
            {
                var bit = (h1 + i * h2) % bits;
                // get_bit numbers the bits of a byte from the least significant one.
                filter[bit >> 3] |= (byte)(1 << (int)(bit & 7));
            }
        }
        return filter;
    }

    /// <summary>The parameters <c>$3</c> and <c>$4</c> of <see cref="HoldsAnyIdSql"/> for these ids.</summary>
    public static (long[] H1, long[] H2) Probes(IReadOnlyList<string> eventIds)
    {
        var probes = eventIds.Select(Probe).ToArray();
        return (Array.ConvertAll(probes, p => p.H1), Array.ConvertAll(probes, p => p.H2));
    }

    // Two 32-bit halves of one 64-bit hash make the four probes (Kirsch–Mitzenmacher); non-negative, so SQL's % agrees.
    private static (long H1, long H2) Probe(string eventId)
    {
        var hash = XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(eventId));
        return ((long)(uint)hash, (long)(hash >> 32));
    }

    /// <summary>The events of an archive row's <c>events</c> bytes, each with its full envelope.</summary>
    /// <exception cref="Google.Protobuf.InvalidProtocolBufferException">The bytes are not an events batch.</exception>
    public static List<EnrichedEvent> ReadEvents(byte[] events) => QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, events)]);
}
