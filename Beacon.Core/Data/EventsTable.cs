namespace Beacon.Core.Data;

/// <summary>
/// The day-partitioned <c>events</c> table written by postgres pipelines. Created by the initial migration;
/// the worker adds a partition per day ahead of time (<see cref="EnsurePartitionSql"/>), and rows of days
/// without a partition land in the default partition instead of failing.
/// </summary>
public static class EventsTable
{
    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS events (
            event_id text NOT NULL,
            store_id uuid NOT NULL,
            pipeline_id uuid NOT NULL,
            event_type text NOT NULL,
            source text NOT NULL,
            timestamp timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            session_id text NULL,
            device_id text NULL,
            customer_id text NULL,
            visitor_id text NULL,
            product_id text NULL,
            geo_country text NULL,
            geo_state text NULL,
            geo_city text NULL,
            device_type text NULL,
            browser text NULL,
            os text NULL,
            shopping_channel text NULL,
            data jsonb NOT NULL,
            PRIMARY KEY (event_id, pipeline_id, received_at)
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE IF NOT EXISTS events_default PARTITION OF events DEFAULT;
        CREATE INDEX IF NOT EXISTS ix_events_store_received ON events (store_id, received_at DESC);
        """;

    /// <summary>SQL that creates the partition of <paramref name="day"/> if it is missing.</summary>
    public static string EnsurePartitionSql(DateOnly day) => DayPartitions.EnsureSql("events", day);
}
