namespace Beacon.Core.Data;

/// <summary>
/// The archive of every accepted event (DESIGN §10), whatever pipelines exist: one row per event with the queue's
/// protobuf <c>EnrichedEvent</c> bytes, day-partitioned on <c>received_at</c> so retention drops whole days.
/// Written by the worker with binary COPY before it acks an entry; a reclaimed entry may be written twice, so
/// readers take one row per <c>event_id</c>. Outside EF's model like <see cref="EventsTable"/>.
/// </summary>
public static class EventArchiveTable
{
    public const string Name = "event_archive";

    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS event_archive (
            store_id uuid NOT NULL,
            received_at timestamptz NOT NULL,
            event_id text NOT NULL,
            event_type text NOT NULL,
            envelope bytea NOT NULL
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE IF NOT EXISTS event_archive_default PARTITION OF event_archive DEFAULT;
        CREATE INDEX IF NOT EXISTS ix_event_archive_store_received ON event_archive (store_id, received_at, event_id);
        CREATE INDEX IF NOT EXISTS ix_event_archive_store_event ON event_archive (store_id, event_id);
        """;

    public const string DropSql = "DROP TABLE IF EXISTS event_archive;";
}
