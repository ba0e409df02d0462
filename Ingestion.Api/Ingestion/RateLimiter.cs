using System.Net;
using Beacon.Core.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Ingestion;

/// <summary>The answer of <see cref="RateLimiter"/>: allowed, or refused with how long to wait.</summary>
public readonly record struct RateLimitDecision(bool Allowed, TimeSpan RetryAfter);

/// <summary>
/// Fixed-window request limits per token and per token + client IP (DESIGN §3), counted in Redis so every
/// instance shares them: one script call (one round trip) per request or stream batch. The counters are the token's
/// whatever the door; the thresholds are the token's own limits, else the door's defaults (<see cref="RateLimitOptions"/>). Both counters are bumped by one script; their keys share the token's hash tag so it
/// also works on Redis Cluster.
/// </summary>
public sealed class RateLimiter(IConnectionMultiplexer redis, IOptions<IngestionOptions> options)
{
    private const string CountScript = """
        local a = redis.call('INCR', KEYS[1])
        if a == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local b = redis.call('INCR', KEYS[2])
        if b == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
        return {a, b}
        """;

    private readonly RateLimitOptions _options = options.Value.RateLimit;

    /// <exception cref="QueueUnavailableException">Redis is unreachable (the request could not be stored anyway).</exception>
    public async Task<RateLimitDecision> CheckAsync(StoreToken token, IPAddress? clientIp, DoorLimits limits)
    {
        var windowMs = Math.Max(1L, (long)_options.Window.TotalMilliseconds);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var window = now / windowMs;
        var scope = $"{{{token.TokenId:N}}}";
        RedisKey[] keys =
        [
            QueueKeys.RateLimit(scope, window),
            QueueKeys.RateLimit($"{scope}:{clientIp?.ToString() ?? "none"}", window),
        ];
        RedisResult result;
        try
        {
            // Keys outlive their window a little so a slow clock on another instance still counts in it.
            result = await redis.GetDatabase().ScriptEvaluateAsync(CountScript, keys, [windowMs + 1000]);
        }
        // The multiplexer cancels commands it cannot send (e.g. while reconnecting): that is unavailability too.
        catch (Exception ex) when (ex is RedisException or TimeoutException or TaskCanceledException)
        {
            throw new QueueUnavailableException("The rate limiter is unavailable.", ex);
        }
        var counts = (long[])result!;
        var alana = limits == DoorLimits.Alana;
        var perKey = token.RateLimitPerMinute ?? (alana ? _options.PerKey : _options.StorefrontPerToken);
        var perIp = token.RateLimitPerIpPerMinute ?? (alana ? _options.PerKeyAndIp : _options.StorefrontPerTokenAndIp);
        if (counts[0] <= perKey && counts[1] <= perIp)
        {
            return new RateLimitDecision(true, TimeSpan.Zero);
        }
        var untilNextWindow = (window + 1) * windowMs - now;
        return new RateLimitDecision(false, TimeSpan.FromMilliseconds(Math.Max(untilNextWindow, 1)));
    }
}
