namespace Beacon.Worker;

/// <summary>Settings of the delivery worker (configuration section <c>Worker</c>).</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Consumer name in the group; empty makes one unique to this process (host, pid, random).</summary>
    public string ConsumerName { get; set; } = "";

    /// <summary>Stream entries read per XREADGROUP call.</summary>
    public int ReadCount { get; set; } = 200;

    /// <summary>Pause after a read that found nothing (StackExchange.Redis has no blocking reads).</summary>
    public TimeSpan IdlePollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Entries read but not yet acked, at most; reading waits while this many are in flight.</summary>
    public int MaxInFlightEntries { get; set; } = 20_000;

    /// <summary>
    /// Events of the entries in flight, at most: what bounds a lagging worker's memory (the rest waits in the stream).
    /// Enough to fill every lane's concurrent batches (4 COPYs of 5,000 for a postgres pipeline).
    /// </summary>
    public int MaxInFlightEvents { get; set; } = 30_000;

    /// <summary>An entry pending this long on a consumer is taken over by another (XAUTOCLAIM).</summary>
    public TimeSpan ClaimMinIdle { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often to look for entries of crashed workers.</summary>
    public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the stream is trimmed below what the group has acked, and lag is measured.</summary>
    public TimeSpan TrimInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an entry of a store whose pipelines this worker never loaded waits for Postgres. Past it (or at once
    /// while Postgres refuses) the entry is left pending for a later reclaim, so the other stores' entries go on.
    /// </summary>
    public TimeSpan FirstLoadWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a store's entries wait, after Admin.Web announced a change of its pipelines, for the reload that reads
    /// it (a few milliseconds while Postgres answers). Past it (Postgres down) they go on with the last known
    /// pipelines, and later entries do not wait for that change again.
    /// </summary>
    public TimeSpan AnnouncedChangeWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Pipelines are reloaded this often even without a config-change message.</summary>
    public TimeSpan PipelineRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long after a deletion request (without suppression) the worker still drops queued events of its
    /// identifier that were received before it.
    /// </summary>
    public TimeSpan DeletionMatchWindow { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Events per webhook request (a pipeline's <c>batchSize</c> setting overrides it).</summary>
    public int WebhookBatchSize { get; set; } = 100;

    /// <summary>How long a webhook batch waits to fill before it is sent.</summary>
    public TimeSpan WebhookLinger { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Events per COPY into the events table.</summary>
    public int PostgresBatchSize { get; set; } = 5_000;

    public TimeSpan PostgresLinger { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Batches of one pipeline being delivered at once: where a lane starts, where it returns when nothing waits,
    /// and the most for a <c>postgres</c> pipeline and for a pipeline's retries.
    /// </summary>
    public int MaxConcurrentBatchesPerPipeline { get; set; } = 4;

    /// <summary>
    /// The most batches of one <c>webhook</c> pipeline in flight while its lane is behind and the receiver answers
    /// 2xx (the lane grows by one per delivered batch and halves on a 5xx, 429 or timeout).
    /// </summary>
    public int MaxConcurrentWebhookBatches { get; set; } = 32;

    /// <summary>
    /// Queued parts per pipeline lane. A full lane makes the reader wait (back-pressure) for at most
    /// <see cref="LaneStallTimeout"/>; a stalled lane parks new events in Postgres for the retry scheduler.
    /// </summary>
    public int LaneCapacity { get; set; } = 2_000;

    /// <summary>
    /// How long the reader waits for room in a full lane before it calls the lane stalled and parks its new events
    /// in Postgres. A lane whose batches take longer than this counts as stalled until one is quick again.
    /// </summary>
    public TimeSpan LaneStallTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Delays after each failed attempt (after the first, immediate one); ±<see cref="RetryJitter"/>.</summary>
    public List<TimeSpan> RetrySchedule { get; set; } = [];

    public double RetryJitter { get; set; } = 0.2;

    /// <summary>A Retry-After longer than this is cut to it.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often the retry scheduler looks for due batches.</summary>
    public TimeSpan RetryPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A leased retry batch belongs to its worker this long; after a crash it is free again.</summary>
    public TimeSpan RetryLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Retry batches delivered at once by one worker.</summary>
    public int MaxConcurrentRetries { get; set; } = 32;

    /// <summary>A pipeline failing without a single success for this long is disabled.</summary>
    public TimeSpan DisableAfterFailingFor { get; set; } = TimeSpan.FromDays(5);

    /// <summary>How often per-minute delivery stats are written.</summary>
    public TimeSpan StatsFlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Days the events table keeps a store's events when the store sets no retention of its own.</summary>
    public int EventRetentionDays { get; set; } = 90;

    /// <summary>Days dead letters and quarantined entries are kept when their store sets no retention of its own.</summary>
    public int DeadLetterRetentionDays { get; set; } = 30;

    /// <summary>How often retention is applied.</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Day partitions of the events table created ahead of today.</summary>
    public int PartitionDaysAhead { get; set; } = 3;

    /// <summary>
    /// How long every accepted event is kept in the archive (<c>event_archive</c>), for traces and replays; whole days
    /// are dropped once older. Zero turns the archive off (entries are then acked without it).
    /// </summary>
    public TimeSpan ArchiveRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Events per COPY into the archive.</summary>
    public int ArchiveBatchSize { get; set; } = 5_000;

    /// <summary>How long an archive COPY waits to fill.</summary>
    public TimeSpan ArchiveLinger { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Archive COPYs of one worker at once.</summary>
    public int ArchiveConcurrentWrites { get; set; } = 2;

    /// <summary>How long delivery attempts are kept for event traces and the live deliveries view. Zero: not recorded.</summary>
    public TimeSpan AttemptLogRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often recorded delivery attempts are written (one COPY).</summary>
    public TimeSpan AttemptLogFlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Attempts waiting to be written, at most; beyond it new ones are not recorded (delivery never waits for its log).</summary>
    public int AttemptLogCapacity { get; set; } = 100_000;

    /// <summary>Events a worker replays per second, at most, so live traffic keeps its capacity.</summary>
    public int ReplayEventsPerSecond { get; set; } = 2_000;

    /// <summary>Archive rows (ingested batches of 1 to 100 events) read per page of a replay; progress is saved after each page.</summary>
    public int ReplayPageSize { get; set; } = 20;

    /// <summary>How often a worker looks for replays to run.</summary>
    public TimeSpan ReplayPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A running replay belongs to its worker this long after its last page; after a crash another takes it on.</summary>
    public TimeSpan ReplayLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The schedule in force: the configured one, else Svix's.</summary>
    public IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule.Count > 0 ? RetrySchedule : Beacon.Core.Delivery.RetrySchedule.Standard;
}
