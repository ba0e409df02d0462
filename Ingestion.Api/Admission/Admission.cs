using System.Net;
using Beacon.Ingestion.Intake;

namespace Beacon.Ingestion.Admission;

/// <summary>Which defaults a door's requests are counted against (a token's own limits replace both).</summary>
public enum DoorLimits
{
    /// <summary><c>/beacon</c> and gRPC: shoppers' browsers and apps, many of them behind one address.</summary>
    Storefront,

    /// <summary><c>/api/v1/events</c>: the Alana contract's numbers (DESIGN §3).</summary>
    Alana,
}

public enum AdmissionVerdict
{
    Admitted,
    /// <summary>Missing, unknown or revoked token: 401 / UNAUTHENTICATED.</summary>
    Unauthenticated,
    /// <summary>The Origin is not one of the token's: 403 / PERMISSION_DENIED.</summary>
    OriginRefused,
    /// <summary>Over a rate limit: 429 / RESOURCE_EXHAUSTED, with <see cref="Admission.RetryAfter"/>.</summary>
    Limited,
    /// <summary>The token store or the limiter's Redis did not answer: 503 / UNAVAILABLE.</summary>
    TokenStoreUnavailable,
    LimiterUnavailable,
}

/// <summary>The answer of <see cref="Admitter"/>: the token when admitted, else why not.</summary>
public readonly record struct Admission(AdmissionVerdict Verdict, StoreToken? Token, TimeSpan RetryAfter = default)
{
    public bool Admitted => Verdict == AdmissionVerdict.Admitted;
}

/// <summary>
/// The one admission step of every door (JSON <c>/beacon</c>, <c>/api/v1/events</c>, gRPC <c>Send</c> and each
/// <c>Stream</c> batch): token, origin, then the rate limits of the token and of the token + client IP. Doors only
/// translate the verdict into their status codes. Tokens come from <see cref="TokenCache"/>, which the config-change
/// announcements keep current, so re-admitting each batch of an open stream sees a revocation or a new limit.
/// </summary>
public sealed class Admitter(TokenCache tokens, RateLimiter rateLimiter)
{
    /// <param name="limits">The defaults to count against; null counts nothing (the opening of a stream: its batches count).</param>
    /// <remarks>One Redis round trip when the token is cached (the limiter's counters), none when it is refused earlier.</remarks>
    public async ValueTask<Admission> AdmitAsync(string? token, string? origin, IPAddress? clientIp, DoorLimits? limits, CancellationToken cancellationToken)
    {
        StoreToken? storeToken;
        try
        {
            storeToken = await tokens.FindAsync(token, cancellationToken);
        }
        catch (TokenStoreUnavailableException)
        {
            return new Admission(AdmissionVerdict.TokenStoreUnavailable, null);
        }
        if (storeToken is null)
        {
            return new Admission(AdmissionVerdict.Unauthenticated, null);
        }
        if (!storeToken.AllowsOrigin(origin))
        {
            return new Admission(AdmissionVerdict.OriginRefused, storeToken);
        }
        if (limits is not { } door)
        {
            return new Admission(AdmissionVerdict.Admitted, storeToken);
        }
        RateLimitDecision decision;
        try
        {
            decision = await rateLimiter.CheckAsync(storeToken, clientIp, door);
        }
        catch (QueueUnavailableException)
        {
            return new Admission(AdmissionVerdict.LimiterUnavailable, storeToken);
        }
        return decision.Allowed
            ? new Admission(AdmissionVerdict.Admitted, storeToken)
            : new Admission(AdmissionVerdict.Limited, storeToken, decision.RetryAfter);
    }
}
