namespace Beacon.Core.Data;

/// <summary>
/// One row per delivery attempt of a batch (first attempts, retries and replays), with the ids of the batch's
/// events and their Bloom filter, so an event's trace finds its attempts (the store's rows on <c>(store_id, at)</c>,
/// each tested on its filter: <see cref="EventIdFilter"/>) and a pipeline's live view its latest deliveries
/// (<c>(pipeline_id, at)</c>). Day-partitioned on <c>at</c>, kept for the trace window. Outside EF's model.
/// </summary>
public static class DeliveryAttemptsTable
{
    public const string Name = "delivery_attempts";

    public const string Columns = "store_id, pipeline_id, batch_id, attempt, at, status, duration_ms, outcome, error, event_count, event_ids, event_id_filter";

    public const string CreateSql = """
        CREATE TABLE IF NOT EXISTS delivery_attempts (
            store_id uuid NOT NULL,
            pipeline_id uuid NOT NULL,
            batch_id uuid NOT NULL,
            attempt integer NOT NULL,
            at timestamptz NOT NULL,
            status integer NULL,
            duration_ms integer NOT NULL,
            outcome text NOT NULL,
            error text NULL,
            event_count integer NOT NULL,
            event_ids text[] NOT NULL
        ) PARTITION BY RANGE (at);
        CREATE TABLE IF NOT EXISTS delivery_attempts_default PARTITION OF delivery_attempts DEFAULT;
        CREATE INDEX IF NOT EXISTS ix_delivery_attempts_event_ids ON delivery_attempts USING gin (event_ids);
        CREATE INDEX IF NOT EXISTS ix_delivery_attempts_pipeline_at ON delivery_attempts (pipeline_id, at DESC);
        """;

    public const string DropSql = "DROP TABLE IF EXISTS delivery_attempts;";

    /// <summary>
    /// The GIN index on <c>event_ids</c> gives way to a Bloom filter per row: one GIN key per event and pipeline cost
    /// Postgres more time than the rows (docs/debugging.md).
    /// </summary>
    public const string IdFilterSql = """
        ALTER TABLE delivery_attempts ADD COLUMN IF NOT EXISTS event_id_filter bytea NULL;
        DROP INDEX IF EXISTS ix_delivery_attempts_event_ids;
        CREATE INDEX IF NOT EXISTS ix_delivery_attempts_store_at ON delivery_attempts (store_id, at);
        """;

    public const string IdFilterDropSql = """
        DROP INDEX IF EXISTS ix_delivery_attempts_store_at;
        CREATE INDEX IF NOT EXISTS ix_delivery_attempts_event_ids ON delivery_attempts USING gin (event_ids);
        ALTER TABLE delivery_attempts DROP COLUMN IF EXISTS event_id_filter;
        """;
}

/// <summary>What a delivery attempt came to, as <c>delivery_attempts.outcome</c> and the trace API say it.</summary>
public static class AttemptOutcomes
{
    public const string Delivered = "delivered";
    /// <summary>Failed; another attempt is scheduled.</summary>
    public const string Retrying = "retrying";
    /// <summary>Failed for good (a final answer or the last attempt): the events are dead letters.</summary>
    public const string DeadLettered = "dead_lettered";
}
