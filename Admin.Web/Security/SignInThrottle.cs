using System.Net;
using System.Net.Sockets;
using Beacon.Admin.Management;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Admin.Security;

/// <summary>
/// Limits failed sign-ins per client network (an IPv4 address or an IPv6 /64, which one client usually holds
/// whole) to <see cref="AdminOptions.SignInFailuresPerWindow"/> per <see cref="AdminOptions.SignInThrottleWindow"/>,
/// counted in Redis so every Admin.Web instance shares the count. An attempt is counted before the password is
/// checked and refunded when it succeeds, so parallel guesses cannot slip past the limit. Identity's per-account
/// lockout works alongside: this one stops one client trying many accounts.
/// </summary>
public sealed class SignInThrottle(IConnectionMultiplexer redis, IOptions<AdminOptions> options)
{
    // INCR and the window's expiry in one step: the window starts with its first failure and is not extended by later ones.
    private const string CountScript = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return {n, redis.call('PTTL', KEYS[1])}
        """;

    /// <summary>Counts an attempt from <paramref name="client"/>; returns how long it must wait when it is over the limit, else null.</summary>
    public async Task<TimeSpan?> BeginAttemptAsync(IPAddress? client)
    {
        var window = options.Value.SignInThrottleWindow;
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(
            CountScript, [Key(client)], [(long)window.TotalMilliseconds]))!;
        var count = (long)result[0];
        var remaining = (long)result[1];
        return count > options.Value.SignInFailuresPerWindow
            ? TimeSpan.FromMilliseconds(remaining > 0 ? remaining : window.TotalMilliseconds)
            : null;
    }

    /// <summary>The attempt succeeded: it does not count against the client.</summary>
    public Task RefundAsync(IPAddress? client) => redis.GetDatabase().StringDecrementAsync(Key(client));

    private static RedisKey Key(IPAddress? client)
    {
        if (client is null)
        {
            return "beacon:admin:signin-failures:unknown";
        }
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }
        if (client.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = client.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            client = new IPAddress(bytes);
        }
        return "beacon:admin:signin-failures:" + client;
    }
}
