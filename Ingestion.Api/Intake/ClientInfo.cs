using System.Net;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// What enrichment may know about the sender, read once per request by <see cref="ClientInfoReader"/>.
/// The IP is used for the geo lookup only and never stored. The Cloudflare values are set only when the
/// request came through a trusted proxy.
/// </summary>
public sealed record ClientInfo(
    string? UserAgent,
    string? RequestedWith,
    IPAddress? IpAddress,
    string? CloudflareCountry = null,
    string? CloudflareRegion = null,
    string? CloudflareCity = null);
