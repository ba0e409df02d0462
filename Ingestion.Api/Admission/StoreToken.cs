namespace Beacon.Ingestion.Admission;

/// <summary>
/// An active store token as ingestion needs it (from <see cref="TokenCache"/>); the token itself is never kept,
/// only its SHA-256 <see cref="Hash"/>.
/// A <see cref="Rehearsal"/> token is the start-up warm-up's own (<see cref="Readiness.IngestionWarmUp"/>): its batches
/// run the whole path into a scratch stream, never the real one, and count in no metric.
/// </summary>
public sealed record StoreToken(
    Guid TokenId,
    Guid StoreId,
    string Hash,
    IReadOnlyList<string> AllowedOrigins,
    int? RateLimitPerMinute,
    int? RateLimitPerIpPerMinute)
{
    public bool Rehearsal { get; init; }

    /// <summary>An empty list allows any origin; requests without an Origin (servers, apps) are always allowed.</summary>
    public bool AllowsOrigin(string? origin)
    {
        if (string.IsNullOrEmpty(origin) || AllowedOrigins.Count == 0)
        {
            return true;
        }
        foreach (var allowed in AllowedOrigins)
        {
            if (string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>The token store (Postgres) could not answer for a token that is not cached (503 / UNAVAILABLE).</summary>
public sealed class TokenStoreUnavailableException(Exception inner)
    : Exception("The token store is unavailable and the token is not cached.", inner);
