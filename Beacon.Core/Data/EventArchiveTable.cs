using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Core.Data;

/// <summary>
/// The archive of every accepted event (DESIGN §10), whatever pipelines exist: one row per ingested batch (the
/// events of one stream entry that share a store and a <c>received_at</c>), holding the queue's own protobuf
/// <c>EnrichedEventBatch</c> bytes (the shared envelope once, then each event), the batch's event ids and a Bloom filter
/// of them (<c>event_id_filter</c>, <see cref="EventIdFilter"/>). A row per batch rather than per event keeps the write
/// cost low: one heap tuple and one btree entry for up to 100 events, and no index entry per event (a GIN on
/// <c>event_ids</c> cost two thirds of the archive's Postgres CPU). Day-partitioned on <c>received_at</c> so retention drops whole days. Written by the worker with
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

    /// <summary>The event ids' Bloom filter (<see cref="EventIdFilter"/>) replaces their GIN index.</summary>
    public const string IdFilterSql = """
        ALTER TABLE event_archive ADD COLUMN IF NOT EXISTS event_id_filter bytea NULL;
        DROP INDEX IF EXISTS ix_event_archive_event_ids;
        """;

    public const string IdFilterDropSql = """
        CREATE INDEX IF NOT EXISTS ix_event_archive_event_ids ON event_archive USING gin (event_ids);
        ALTER TABLE event_archive DROP COLUMN IF EXISTS event_id_filter;
        """;

    /// <summary>The events of an archive row's <c>events</c> bytes, each with its full envelope.</summary>
    /// <exception cref="Google.Protobuf.InvalidProtocolBufferException">The bytes are not an events batch.</exception>
    public static List<EnrichedEvent> ReadEvents(byte[] events) => QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, events)]);
}
