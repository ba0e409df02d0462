namespace Beacon.Ingestion.Intake;

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

    /// <summary>
    /// How long a dropped event stays findable by its <c>event_id</c> (the per-event trace of Admin.Web); zero keeps
    /// no such index.
    /// </summary>
    public TimeSpan DropTraceRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Group commit: Redis calls of the ingestion queue in flight at once (more requests then share each call).</summary>
    public int EnqueueConcurrency { get; set; } = 2;

    /// <summary>Group commit: events carried by one Redis call at most (a single batch always fits).</summary>
    public int MaxEventsPerEnqueueCall { get; set; } = 1000;

    public RateLimitOptions RateLimit { get; set; } = new();

    public TokenCacheOptions TokenCache { get; set; } = new();

    public KestrelLimitOptions Kestrel { get; set; } = new();
}

/// <summary>
/// Connection, header and body-rate limits of Kestrel (<c>Ingestion:Kestrel</c>): every door is the open internet, so
/// what an idle, slow or oversized client can hold is bounded. The HTTP/2 limits of the gRPC port are under <c>Grpc</c>.
/// </summary>
public sealed class KestrelLimitOptions
{
    /// <summary>Open connections per instance; beyond it new ones are closed at once (browsers keep one or two each).</summary>
    public long MaxConcurrentConnections { get; set; } = 10_000;

    /// <summary>WebSocket-style upgraded connections: no door upgrades, so none.</summary>
    public long MaxConcurrentUpgradedConnections { get; set; }

    /// <summary>Browsers send about 20 headers; room for proxies' additions.</summary>
    public int MaxRequestHeaderCount { get; set; } = 64;

    public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    public int MaxRequestLineSize { get; set; } = 8 * 1024;

    /// <summary>Slower bodies are cut off (408) after <see cref="MinRequestBodyGracePeriod"/>: a slow client cannot hold a request open for long.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    public TimeSpan MinRequestBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An idle keep-alive connection is closed after this long (a page's next beacon usually comes sooner).</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The request line and headers must arrive within this long.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Default request limits per <see cref="Window"/> of every door; a token's own limits (set in Admin.Web) replace
/// them on every door. docs/ingestion.md explains the storefront numbers.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary><c>/api/v1/events</c>: requests per key (DESIGN §3).</summary>
    public int PerKey { get; set; } = 1000;

    /// <summary><c>/api/v1/events</c>: requests per key and client IP (DESIGN §3).</summary>
    public int PerKeyAndIp { get; set; } = 100;

    /// <summary>
    /// <c>/beacon</c> and gRPC (a call to <c>Send</c> or one <c>Stream</c> batch): requests per token and client IP. A
    /// shopper sends a few beacons per page, so 600 a minute lets an office or a carrier NAT with dozens of busy
    /// shoppers through while one abusive client is held to 10 requests (1,000 events) a second.
    /// </summary>
    public int StorefrontPerTokenAndIp { get; set; } = 600;

    /// <summary>
    /// <c>/beacon</c> and gRPC: requests per token from all addresses (2,000 a second), so a leaked token cannot take
    /// a whole instance. Stores busier than that set their token's own limit.
    /// </summary>
    public int StorefrontPerToken { get; set; } = 120_000;

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
