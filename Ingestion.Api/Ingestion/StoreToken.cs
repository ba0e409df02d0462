namespace Beacon.Ingestion.Ingestion;

/// <summary>
/// An active store token as ingestion needs it (from <see cref="TokenCache"/>); the token itself is never kept,
/// only its SHA-256 <see cref="Hash"/>.
/// </summary>
public sealed record StoreToken(
    Guid TokenId,
    Guid StoreId,
    string Hash,
    IReadOnlyList<string> AllowedOrigins,
    int? RateLimitPerMinute,
    int? RateLimitPerIpPerMinute)
{
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
