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

    /// <summary>Pipelines are reloaded this often even without a config-change message.</summary>
    public TimeSpan PipelineRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events per webhook request.</summary>
    public int WebhookBatchSize { get; set; } = 100;

    /// <summary>How long a webhook batch waits to fill before it is sent.</summary>
    public TimeSpan WebhookLinger { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Events per COPY into the events table.</summary>
    public int PostgresBatchSize { get; set; } = 5_000;

    public TimeSpan PostgresLinger { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Batches of one pipeline being delivered at once.</summary>
    public int MaxConcurrentBatchesPerPipeline { get; set; } = 4;

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

    /// <summary>Day partitions of the events table created ahead of today.</summary>
    public int PartitionDaysAhead { get; set; } = 3;

    public static readonly IReadOnlyList<TimeSpan> StandardRetrySchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>The schedule in force: the configured one, else Svix's.</summary>
    public IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule.Count > 0 ? RetrySchedule : StandardRetrySchedule;
}
