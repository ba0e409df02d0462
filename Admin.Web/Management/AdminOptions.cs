namespace Beacon.Admin.Management;

/// <summary>The <c>Admin</c> configuration section.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>
    /// How far back the per-event trace looks for a dropped event (accepted events and their attempts are kept by the
    /// worker's <c>Worker:ArchiveRetention</c> and <c>Worker:AttemptLogRetention</c>). Default 7 days.
    /// </summary>
    public TimeSpan TraceWindow { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The first operator, created at start-up when missing (<c>Admin__BootstrapEmail</c>).</summary>
    public string? BootstrapEmail { get; set; }

    /// <summary>Its password (only used when the user is created).</summary>
    public string? BootstrapPassword { get; set; }

    /// <summary>A management API key for automation, registered for the bootstrap operator at start-up.</summary>
    public string? BootstrapApiKey { get; set; }

    /// <summary>How long a rotated-out webhook secret keeps signing deliveries.</summary>
    public TimeSpan SecretRotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Ingestion's public JSON URL, used in the copy-paste examples.</summary>
    public string? IngestionUrl { get; set; }

    /// <summary>Ingestion's gRPC address, used in the copy-paste examples.</summary>
    public string? IngestionGrpcAddress { get; set; }

    /// <summary>Serve plain HTTP (cookies not Secure-only); for development on http://localhost only.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// How long a sign-in cookie is trusted before the user is re-read from the database (operator flag,
    /// lockout, security stamp): a demoted operator or a locked user loses access within this time.
    /// </summary>
    public TimeSpan PrincipalRevalidationInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Lifetime of an invitation link.</summary>
    public TimeSpan InvitationLifetime { get; set; } = TimeSpan.FromDays(3);

    /// <summary>Pipelines a store may have (<c>Admin__MaxPipelinesPerStore</c>): one event fans out to each of them.</summary>
    public int MaxPipelinesPerStore { get; set; } = 20;

    /// <summary>How often the deletion runner looks for requested deletions.</summary>
    public TimeSpan DeletionPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a requested deletion waits before it runs: by then every worker knows it, from the announcement within a
    /// second or else from its periodic reload (<c>Worker:PipelineRefreshInterval</c>, 30 s), and leaves the identifier's
    /// events out of whatever it writes. Events a worker took before it knew could otherwise be written after the sweep.
    /// </summary>
    public TimeSpan DeletionSettleDelay { get; set; } = TimeSpan.FromSeconds(35);

    /// <summary>A deletion still running after this long (its Admin.Web instance died) is taken up again by another.</summary>
    public TimeSpan DeletionStaleAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Delays between the attempts of a <c>privacy.deletion</c> notice after a failure; empty is the webhook schedule
    /// (<see cref="Beacon.Core.Delivery.RetrySchedule.Standard"/>: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), ±20%.
    /// </summary>
    public List<TimeSpan> DeletionNoticeRetrySchedule { get; set; } = [];

    /// <summary>Active (not revoked) tokens a store may have (<c>Admin__MaxTokensPerStore</c>).</summary>
    public int MaxTokensPerStore { get; set; } = 50;

    /// <summary>Failed sign-ins allowed from one client IP (an IPv6 /64) per <see cref="SignInThrottleWindow"/>, across instances.</summary>
    public int SignInFailuresPerWindow { get; set; } = 10;

    public TimeSpan SignInThrottleWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Reverse proxies (addresses or CIDR networks) whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are
    /// believed (<c>Admin__TrustedProxies__0</c>...). Behind a proxy, set it: the sign-in throttle counts per client IP.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];
}
