using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Beacon.Ingestion.Enrichment;

/// <summary>What the User-Agent says: <see cref="DeviceType"/> is <c>desktop|mobile|tablet|bot|other</c>.</summary>
public sealed record UserAgentInfo(string Browser, string Os, string DeviceType, bool IsMerchantApp);

/// <summary>
/// Parses User-Agents with the ua-parser project's <c>regexes.yaml</c> (vendored from the npm package
/// <c>uap-core</c> 0.18.0, Apache-2.0, in this folder): the first matching rule of each section wins, as every
/// ua-parser port does. Parsing runs hundreds of regexes, so results are cached: two generations of at most
/// <see cref="CacheSize"/> entries each, hits in the older one promoted, so the working set stays and old
/// User-Agents age out without any per-hit bookkeeping.
/// </summary>
public sealed class UserAgentParser
{
    public const int CacheSize = 10_000;
    // Longer strings are not real browsers; parsing them would only cost time.
    private const int MaxLength = 1024;

    private static readonly Lazy<Rules> SharedRules = new(Rules.Load);
    private static readonly UserAgentInfo Unknown = new("Other", "Other", "other", false);

    private ConcurrentDictionary<string, UserAgentInfo> _current = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, UserAgentInfo> _previous = new(StringComparer.Ordinal);
    private readonly object _rotateLock = new();

    /// <summary>Loads the rules on a background thread so the first request does not pay for it.</summary>
    public static void Warm() => ThreadPool.UnsafeQueueUserWorkItem(_ => _ = SharedRules.Value, null);

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
            info = userAgent.Length > MaxLength ? Unknown : SharedRules.Value.Parse(userAgent);
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

    private sealed record Rule(Regex Regex, string? Replacement, string? BrandReplacement, string? ModelReplacement);

    private sealed class Rules
    {
        private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(50);

        private static readonly HashSet<string> MobileOs = new(StringComparer.Ordinal)
        {
            "iOS", "Android", "Windows Phone", "BlackBerry OS", "BlackBerry Tablet OS", "KaiOS", "Firefox OS",
            "Symbian OS", "Symbian^3", "webOS", "Tizen", "Sailfish", "HarmonyOS", "Ubuntu Touch", "Windows Mobile",
        };

        private static readonly HashSet<string> DesktopOs = new(StringComparer.Ordinal)
        {
            "Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD", "OpenBSD",
            "NetBSD", "Solaris", "Mint", "Arch Linux", "Gentoo", "Kubuntu", "Red Hat", "SUSE", "CentOS", "Mandriva",
        };

        private readonly List<Rule> _browsers;
        private readonly List<Rule> _os;
        private readonly List<Rule> _devices;

        private Rules(List<Rule> browsers, List<Rule> os, List<Rule> devices)
        {
            _browsers = browsers;
            _os = os;
            _devices = devices;
        }

        public static Rules Load()
        {
            using var stream = typeof(UserAgentParser).Assembly.GetManifestResourceStream("Beacon.Ingestion.Enrichment.regexes.yaml")
                ?? throw new InvalidOperationException("Embedded regexes.yaml is missing");
            using var reader = new StreamReader(stream);
            var file = new DeserializerBuilder()
                .WithNamingConvention(UnderscoredNamingConvention.Instance)
                .IgnoreUnmatchedProperties()
                .Build()
                .Deserialize<RegexFile>(reader);
            return new Rules(
                Compile(file.UserAgentParsers, e => e.FamilyReplacement),
                Compile(file.OsParsers, e => e.OsReplacement),
                Compile(file.DeviceParsers, e => e.DeviceReplacement));
        }

        private static List<Rule> Compile(List<RegexEntry> entries, Func<RegexEntry, string?> replacement)
        {
            var rules = new List<Rule>(entries.Count);
            foreach (var entry in entries)
            {
                var flags = RegexOptions.CultureInvariant;
                if (entry.RegexFlag == "i")
                {
                    flags |= RegexOptions.IgnoreCase;
                }
                try
                {
                    rules.Add(new Rule(new Regex(entry.Regex, flags, MatchTimeout), replacement(entry), entry.BrandReplacement, entry.ModelReplacement));
                }
                catch (ArgumentException)
                {
                    // A PCRE-only construct .NET does not know: that one rule is skipped, the rest still apply.
                }
            }
            return rules;
        }

        public UserAgentInfo Parse(string userAgent)
        {
            var browser = FirstMatch(_browsers, userAgent, out _) ?? "Other";
            var os = FirstMatch(_os, userAgent, out _) ?? "Other";
            var device = FirstMatch(_devices, userAgent, out var model) ?? "Other";
            var isMerchantApp = userAgent.Contains("tapcart", StringComparison.OrdinalIgnoreCase)
                || userAgent.Contains("fuego", StringComparison.OrdinalIgnoreCase);
            return new UserAgentInfo(browser, os, DeviceTypeOf(userAgent, browser, os, device, model), isMerchantApp);
        }

        private static string DeviceTypeOf(string userAgent, string browser, string os, string device, string? model)
        {
            if (device == "Spider" || browser == "Spider" || browser.Contains("bot", StringComparison.OrdinalIgnoreCase))
            {
                return "bot";
            }
            if (device.Contains("iPad", StringComparison.Ordinal) || (model?.Contains("iPad", StringComparison.Ordinal) ?? false)
                || device.Contains("Tablet", StringComparison.OrdinalIgnoreCase) || device.Contains("Kindle", StringComparison.Ordinal)
                || userAgent.Contains("Tablet", StringComparison.OrdinalIgnoreCase)
                // Android tablets' browsers leave "Mobile" out of the User-Agent; phones' put it in.
                || (os == "Android" && !userAgent.Contains("Mobile", StringComparison.Ordinal)))
            {
                return "tablet";
            }
            if (MobileOs.Contains(os) || userAgent.Contains("Mobi", StringComparison.Ordinal)
                || device is "iPhone" or "iPod" or "Generic Smartphone" or "Generic Feature Phone")
            {
                return "mobile";
            }
            return DesktopOs.Contains(os) ? "desktop" : "other";
        }

        private static string? FirstMatch(List<Rule> rules, string userAgent, out string? model)
        {
            model = null;
            foreach (var rule in rules)
            {
                Match match;
                try
                {
                    match = rule.Regex.Match(userAgent);
                }
                catch (RegexMatchTimeoutException)
                {
                    continue;
                }
                if (!match.Success)
                {
                    continue;
                }
                if (rule.ModelReplacement is not null)
                {
                    model = Substitute(rule.ModelReplacement, match);
                }
                else if (match.Groups.Count > 1)
                {
                    model = match.Groups[1].Value;
                }
                var value = rule.Replacement is not null ? Substitute(rule.Replacement, match)
                    : match.Groups.Count > 1 ? match.Groups[1].Value : null;
                return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
            }
            return null;
        }

        // ua-parser replacements use $1..$9 for the match's groups.
        private static string Substitute(string replacement, Match match)
        {
            if (!replacement.Contains('$'))
            {
                return replacement;
            }
            var result = replacement;
            for (var group = 1; group <= 9; group++)
            {
                var placeholder = "$" + group;
                if (result.Contains(placeholder, StringComparison.Ordinal))
                {
                    result = result.Replace(placeholder, group < match.Groups.Count ? match.Groups[group].Value : "", StringComparison.Ordinal);
                }
            }
            return result.Trim();
        }
    }

    private sealed class RegexFile
    {
        public List<RegexEntry> UserAgentParsers { get; set; } = [];
        public List<RegexEntry> OsParsers { get; set; } = [];
        public List<RegexEntry> DeviceParsers { get; set; } = [];
    }

    private sealed class RegexEntry
    {
        public string Regex { get; set; } = "";
        public string? RegexFlag { get; set; }
        public string? FamilyReplacement { get; set; }
        public string? OsReplacement { get; set; }
        public string? DeviceReplacement { get; set; }
        public string? BrandReplacement { get; set; }
        public string? ModelReplacement { get; set; }
    }
}
