using System.Collections.Concurrent;

namespace Beacon.Ingestion.Enrichment;

/// <summary>What the User-Agent says: <see cref="DeviceType"/> is <c>desktop|mobile|tablet|bot|other</c>.</summary>
public sealed record UserAgentInfo(string Browser, string Os, string DeviceType, bool IsMerchantApp);

/// <summary>
/// Parses User-Agents with the ua-parser project's <c>regexes.yaml</c> (vendored from the npm package
/// <c>uap-core</c> 0.18.0, Apache-2.0, in this folder; see <see cref="UserAgentRules"/>), with a cache in front.
/// A User-Agent seen once only goes into a small fixed table (one slot per hash, overwritten by the next one that
/// lands there); seen again while still there, it enters the cache proper: two generations of at most
/// <see cref="CacheSize"/> entries, hits in the older one promoted, so the working set stays and old User-Agents age
/// out without per-hit bookkeeping. A stream of unique User-Agents thus only churns the fixed table and cannot push
/// real browsers out of the cache, and memory stays bounded.
/// </summary>
public sealed class UserAgentParser
{
    public const int CacheSize = 10_000;
    private const int FirstSightings = 4096;

    internal static readonly UserAgentInfo Unknown = new("Other", "Other", "other", false);
    private static readonly Lazy<UserAgentRules> SharedRules = new(() =>
    {
        var rules = UserAgentRules.Load();
        rules.Warm();
        return rules;
    });

    private ConcurrentDictionary<string, UserAgentInfo> _current = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, UserAgentInfo> _previous = new(StringComparer.Ordinal);
    private readonly Sighting?[] _seenOnce = new Sighting?[FirstSightings];
    private readonly object _rotateLock = new();

    /// <summary>Loads the rules on a background thread so the first request does not pay for it.</summary>
    public static void Warm() => ThreadPool.UnsafeQueueUserWorkItem(_ => _ = SharedRules.Value, null);

    /// <summary>The rules without the cache: what they say of <paramref name="userAgent"/> and the work it took.</summary>
    public static UserAgentAnalysis Analyze(string userAgent) => SharedRules.Value.Analyze(userAgent);

    public UserAgentInfo Parse(string? userAgent)
    {
        if (string.IsNullOrEmpty(userAgent))
        {
            return Unknown;
        }
        if (_current.TryGetValue(userAgent, out var info))
        {
            return info;
        }
        if (!_previous.TryGetValue(userAgent, out info))
        {
            var slot = (int)((uint)StringComparer.Ordinal.GetHashCode(userAgent) % FirstSightings);
            var sighting = Volatile.Read(ref _seenOnce[slot]);
            if (sighting is null || !string.Equals(sighting.UserAgent, userAgent, StringComparison.Ordinal))
            {
                info = SharedRules.Value.Analyze(userAgent).Info;
                Volatile.Write(ref _seenOnce[slot], new Sighting(userAgent, info));
                return info;
            }
            info = sighting.Info;
        }
        if (_current.Count >= CacheSize)
        {
            lock (_rotateLock)
            {
                if (_current.Count >= CacheSize)
                {
                    _previous = _current;
                    _current = new ConcurrentDictionary<string, UserAgentInfo>(StringComparer.Ordinal);
                }
            }
        }
        _current.TryAdd(userAgent, info);
        return info;
    }

    private sealed record Sighting(string UserAgent, UserAgentInfo Info);
}
