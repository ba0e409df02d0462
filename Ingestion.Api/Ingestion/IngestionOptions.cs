namespace Beacon.Ingestion.Ingestion;

/// <summary>Settings of the ingestion path (configuration section <c>Ingestion</c>).</summary>
public sealed class IngestionOptions
{
    public const string Section = "Ingestion";

    /// <summary>Hard limit of a JSON request body; larger bodies get 413.</summary>
    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Events per batch (DESIGN §3: 1-100).</summary>
    public int MaxEventsPerBatch { get; set; } = 100;

    /// <summary>How long an <c>event_id</c> is remembered per store.</summary>
    public TimeSpan DedupWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Peers (IP addresses or CIDR ranges, e.g. Cloudflare's) whose <c>CF-*</c> and <c>CF-Connecting-IP</c>
    /// headers are believed. Anyone else could forge them.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Optional MaxMind-format city database(s) (<c>.mmdb</c>, several separated by <c>;</c>) for geo lookups without Cloudflare.</summary>
    public string? GeoIpDatabase { get; set; }

    /// <summary>Recent rejections kept per store in Redis for Admin.Web (<c>beacon:drops:&lt;storeId&gt;</c>).</summary>
    public int RecentDropsKept { get; set; } = 100;

    /// <summary>Group commit: Redis calls of the ingestion queue in flight at once (more requests then share each call).</summary>
    public int EnqueueConcurrency { get; set; } = 2;

    /// <summary>Group commit: events carried by one Redis call at most (a single batch always fits).</summary>
    public int MaxEventsPerEnqueueCall { get; set; } = 1000;

    public RateLimitOptions RateLimit { get; set; } = new();

    public TokenCacheOptions TokenCache { get; set; } = new();
}

/// <summary>Alana API limits (DESIGN §3); a token's own limits override the defaults.</summary>
public sealed class RateLimitOptions
{
    public int PerKey { get; set; } = 1000;
    public int PerKeyAndIp { get; set; } = 100;
    /// <summary>The fixed window the limits count in (a minute; shorter in tests).</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed class TokenCacheOptions
{
    /// <summary>A known token is re-read after this long (pub/sub evicts it earlier when it changes).</summary>
    public TimeSpan KnownFor { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>An unknown or revoked token is answered from memory for this long.</summary>
    public TimeSpan UnknownFor { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Bound of the negative cache, so a flood of random tokens cannot grow memory without limit.</summary>
    public int MaxUnknownEntries { get; set; } = 100_000;
}
