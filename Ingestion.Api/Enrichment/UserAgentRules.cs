using System.Text.RegularExpressions;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// What the rules say of one User-Agent: uap-core's three families, the device model, and the work done:
/// <paramref name="RegexRuns"/> rules that passed the literal filter, <paramref name="LongPrefixRuns"/> backtracking
/// runs of the costly <c>^.{0,N}</c> rules (only when their linear-time twin says they match).
/// </summary>
public sealed record UserAgentAnalysis(UserAgentInfo Info, string Device, string? Model, int RegexRuns, int LongPrefixRuns = 0);

/// <summary>
/// uap-core's rules (<c>regexes.yaml</c>): in each section the first rule whose regex matches wins, as in every
/// ua-parser port. A rule runs only when the literals any match of it must contain (<see cref="RequiredLiterals"/>)
/// all occur in the User-Agent, which leaves a few regex runs per section of the ~1,200; and a section runs at most
/// <see cref="MaxRegexRunsPerSection"/> regexes, so the work per User-Agent is bounded whatever it contains.
/// </summary>
public sealed class UserAgentRules
{
    /// <summary>
    /// Longer User-Agents are not real browsers (the longest of the 18,008 in uap-core 0.18.0's suites has 492
    /// characters): they parse as "Other" without running any rule, as those over 1,024 did before.
    /// </summary>
    public const int MaxLength = 512;

    /// <summary>
    /// Regexes run per section before it gives up with "Other": real User-Agents pass the literal filter of a few
    /// rules (uap-core's test User-Agents: ~3 browser, ~3 OS and ~12 device rules on average), one stuffed with
    /// literals passes many more.
    /// </summary>
    public const int MaxRegexRunsPerSection = 64;

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

    [ThreadStatic]
    private static LiteralScan? t_scan;

    private readonly Rule[] _browsers;
    private readonly Rule[] _os;
    private readonly Rule[] _devices;
    private readonly string[] _literals;
    private readonly int _maxRegexRunsPerSection;

    private UserAgentRules(Rule[] browsers, Rule[] os, Rule[] devices, string[] literals, int maxRegexRunsPerSection)
    {
        _browsers = browsers;
        _os = os;
        _devices = devices;
        _literals = literals;
        _maxRegexRunsPerSection = maxRegexRunsPerSection;
    }

    /// <summary>Every rule of the three sections, in order.</summary>
    public int RuleCount => _browsers.Length + _os.Length + _devices.Length;

    /// <summary>Rules that have no required literal, so run for every User-Agent that reaches them.</summary>
    public int RulesWithoutLiterals => _browsers.Concat(_os).Concat(_devices).Count(r => r.Clauses.Length == 0);

    public static UserAgentRules Load(int maxRegexRunsPerSection = MaxRegexRunsPerSection)
    {
        using var stream = typeof(UserAgentRules).Assembly.GetManifestResourceStream("Beacon.Ingestion.Enrichment.regexes.yaml")
            ?? throw new InvalidOperationException("Embedded regexes.yaml is missing");
        using var reader = new StreamReader(stream);
        var file = new DeserializerBuilder()
            .WithNamingConvention(UnderscoredNamingConvention.Instance)
            .IgnoreUnmatchedProperties()
            .Build()
            .Deserialize<RegexFile>(reader);
        var literals = new Dictionary<string, int>(StringComparer.Ordinal);
        return new UserAgentRules(
            Compile(file.UserAgentParsers, e => e.FamilyReplacement, literals),
            Compile(file.OsParsers, e => e.OsReplacement, literals),
            Compile(file.DeviceParsers, e => e.DeviceReplacement, literals),
            [.. literals.OrderBy(l => l.Value).Select(l => l.Key)],
            maxRegexRunsPerSection);
    }

    private static Rule[] Compile(List<RegexEntry> entries, Func<RegexEntry, string?> replacement, Dictionary<string, int> literals)
    {
        var rules = new List<Rule>(entries.Count);
        foreach (var entry in entries)
        {
            var flags = RegexOptions.CultureInvariant;
            if (entry.RegexFlag == "i")
            {
                flags |= RegexOptions.IgnoreCase;
            }
            Regex regex;
            try
            {
                regex = new Regex(entry.Regex, flags);
            }
            catch (ArgumentException)
            {
                // A PCRE-only construct .NET does not know: that one rule is skipped, the rest still apply.
                continue;
            }
            // The most selective clause (longest shortest literal) first: most rules fail on it.
            var clauses = RequiredLiterals.Of(entry.Regex)
                .OrderByDescending(c => c.Min(l => l.Length))
                .Select(c => c.Select(l => literals.TryGetValue(l, out var id) ? id : literals[l] = literals.Count).ToArray())
                .ToArray();
            var guard = Guard.Needed(entry.Regex) ? new Lazy<Guard?>(() => Guard.For(entry.Regex, flags)) : null;
            rules.Add(new Rule(regex, guard, clauses, replacement(entry), entry.BrandReplacement, entry.ModelReplacement));
        }
        return [.. rules];
    }

    /// <summary>
    /// Builds every rule's guard and runs every rule once, so the regexes' lazily built matchers exist before the
    /// first request (a guard's twin builds its automaton on its first matches: up to ~0.7 s for the bot rules).
    /// </summary>
    public void Warm()
    {
        foreach (var rule in _browsers.Concat(_os).Concat(_devices))
        {
            var unused = 0;
            _ = rule.Match("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", ref unused);
        }
    }

    public UserAgentAnalysis Analyze(string userAgent)
    {
        if (userAgent.Length > MaxLength)
        {
            return new UserAgentAnalysis(UserAgentParser.Unknown, "Other", null, 0);
        }
        var scan = t_scan ??= new LiteralScan(_literals);
        scan.Start(userAgent);
        var runs = 0;
        var longPrefixRuns = 0;
        var browser = FirstMatch(_browsers, userAgent, scan, ref runs, ref longPrefixRuns, out _) ?? "Other";
        var os = FirstMatch(_os, userAgent, scan, ref runs, ref longPrefixRuns, out _) ?? "Other";
        var device = FirstMatch(_devices, userAgent, scan, ref runs, ref longPrefixRuns, out var model) ?? "Other";
        var isMerchantApp = userAgent.Contains("tapcart", StringComparison.OrdinalIgnoreCase)
            || userAgent.Contains("fuego", StringComparison.OrdinalIgnoreCase);
        var info = new UserAgentInfo(browser, os, DeviceTypeOf(userAgent, browser, os, device, model), isMerchantApp);
        return new UserAgentAnalysis(info, device, model, runs, longPrefixRuns);
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

    private string? FirstMatch(Rule[] rules, string userAgent, LiteralScan scan, ref int runs, ref int longPrefixRuns, out string? model)
    {
        model = null;
        var budget = _maxRegexRunsPerSection;
        foreach (var rule in rules)
        {
            if (!scan.Holds(rule.Clauses))
            {
                continue;
            }
            if (budget-- == 0)
            {
                return null;
            }
            runs++;
            var match = rule.Match(userAgent, ref longPrefixRuns);
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

    /// <param name="Guard">For a <c>^.{0,N}</c> rule, whose backtracking can cost milliseconds: its linear-time twin (null when
    /// .NET cannot build one), built on first use or by <see cref="Warm"/>.</param>
    /// <param name="Clauses">Literal ids: every clause must have one of its literals in the User-Agent.</param>
    private sealed record Rule(Regex Regex, Lazy<Guard?>? Guard, int[][] Clauses, string? Replacement, string? BrandReplacement, string? ModelReplacement)
    {
        public Match Match(string userAgent, ref int guardedRuns)
        {
            if (Guard is not null)
            {
                if (Guard.Value is { } guard && !guard.Admits(userAgent))
                {
                    return System.Text.RegularExpressions.Match.Empty;
                }
                guardedRuns++;
            }
            return Regex.Match(userAgent);
        }
    }

    /// <summary>
    /// A rule's regex on .NET's non-backtracking engine, whose time is linear in the User-Agent, asked only whether
    /// the rule matches at all: when it does not (every User-Agent but bots' own), the backtracking regex does not
    /// run. When it does, the backtracking regex runs as before, for its groups: the twin's own <c>Match</c> is no
    /// substitute (it picks other lazy-prefix lengths and groups, now and then fails where <c>IsMatch</c> succeeds,
    /// and with its capture pass costs 5-40 ms on these rules).
    /// </summary>
    private sealed class Guard(Regex twin)
    {
        private static readonly Regex LongPrefix = new(@"^\^\.\{0,\d+\}", RegexOptions.CultureInvariant);

        /// <summary>
        /// <c>^.{0,N}?rest</c> and <c>^.{0,N}rest</c>: the backtracking engine tries <c>rest</c>, with all its own
        /// loops, after each of the N+1 prefixes (uap-core's bot rules <c>^.{0,200}?(...){0,50}(?:...[Bb]ot|[Ss]pider...)</c>:
        /// ~6 ms on a crafted 500-character User-Agent that does not match). Twins of all ~860 rules with long loops would cost
        /// ~15 s to build and warm, and run slower than most of those rules' backtracking.
        /// </summary>
        public static bool Needed(string pattern) => LongPrefix.IsMatch(pattern);

        public static Guard? For(string pattern, RegexOptions flags)
        {
            try
            {
                return new Guard(new Regex(pattern, flags | RegexOptions.NonBacktracking));
            }
            catch (NotSupportedException)
            {
                return null;
            }
        }

        public bool Admits(string userAgent) => twin.IsMatch(userAgent);
    }

    /// <summary>
    /// Which of the rules' literals occur in one User-Agent, each looked up at most once: a table of the folded
    /// text's character pairs rejects most literals without a search. One per thread, reused.
    /// </summary>
    private sealed class LiteralScan(string[] literals)
    {
        private const sbyte Unknown = 0, Present = 1, Absent = -1;

        private readonly char[] _folded = new char[MaxLength];
        private readonly ulong[] _pairs = new ulong[128 * 128 / 64];
        private readonly ulong[] _singles = new ulong[2];
        private readonly sbyte[] _seen = new sbyte[literals.Length];
        private int _length;

        public void Start(string userAgent)
        {
            _length = userAgent.Length;
            CaseFolding.Fold(userAgent, _folded);
            Array.Clear(_pairs);
            Array.Clear(_singles);
            Array.Clear(_seen);
            var previous = -1;
            for (var i = 0; i < _length; i++)
            {
                int c = _folded[i];
                if (c >= 128)
                {
                    previous = -1;
                    continue;
                }
                _singles[c >> 6] |= 1UL << c;
                if (previous >= 0)
                {
                    var pair = (previous << 7) | c;
                    _pairs[pair >> 6] |= 1UL << pair;
                }
                previous = c;
            }
        }

        public bool Holds(int[][] clauses)
        {
            foreach (var clause in clauses)
            {
                var any = false;
                foreach (var id in clause)
                {
                    if (IsPresent(id))
                    {
                        any = true;
                        break;
                    }
                }
                if (!any)
                {
                    return false;
                }
            }
            return true;
        }

        private bool IsPresent(int id)
        {
            var seen = _seen[id];
            if (seen != Unknown)
            {
                return seen == Present;
            }
            var literal = literals[id];
            var present = HasAllPairs(literal)
                && (literal.Length <= 2 || _folded.AsSpan(0, _length).IndexOf(literal, StringComparison.Ordinal) >= 0);
            _seen[id] = present ? Present : Absent;
            return present;
        }

        private bool HasAllPairs(string literal)
        {
            if (literal.Length == 1)
            {
                int c = literal[0];
                return (_singles[c >> 6] & (1UL << c)) != 0;
            }
            for (var i = 1; i < literal.Length; i++)
            {
                var pair = (literal[i - 1] << 7) | literal[i];
                if ((_pairs[pair >> 6] & (1UL << pair)) == 0)
                {
                    return false;
                }
            }
            return true;
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
