using Beacon.Core.Queue;
using Beacon.Protos.Queue;
using StackExchange.Redis;

namespace Beacon.Core.Data;

/// <summary>
/// The archive of every accepted event (DESIGN §10), whatever pipelines exist: one row per ingested batch (the
/// events of one stream entry that share a store and a <c>received_at</c>), holding the queue's own protobuf
/// <c>EnrichedEventBatch</c> bytes (the shared envelope once, then each event) and the batch's event ids, which a GIN
/// index finds. A row per batch rather than per event keeps the write cost low: one heap tuple and one btree entry for
/// up to 100 events. Day-partitioned on <c>received_at</c> so retention drops whole days. Written by the worker with
/// binary COPY before it acks an entry; a reclaimed entry may be written twice, so readers take one row per
/// (<c>received_at</c>, <c>entry_id</c>). Outside EF's model like <see cref="EventsTable"/>.
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

    /// <summary>The events of an archive row's <c>events</c> bytes, each with its full envelope.</summary>
    /// <exception cref="Google.Protobuf.InvalidProtocolBufferException">The bytes are not an events batch.</exception>
    public static List<EnrichedEvent> ReadEvents(byte[] events) => QueueEntries.Read([new NameValueEntry(QueueKeys.BatchField, events)]);
}
