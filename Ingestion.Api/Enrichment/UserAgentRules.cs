using System.Text.RegularExpressions;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// What the rules say of one User-Agent: uap-core's three families, the device model, and the work done:
/// <paramref name="RegexRuns"/> rules that passed the literal filter, of which <paramref name="LinearRuns"/> costly
/// ones searched in linear time (<see cref="UserAgentRules.IsCostly"/>) rather than by their backtracking regex, and
/// <paramref name="LinearRuleMatches"/> of those that matched, whose backtracking regex then ran from the one position
/// where the match starts, for its groups.
/// </summary>
public sealed record UserAgentAnalysis(UserAgentInfo Info, string Device, string? Model, int RegexRuns, int LinearRuns = 0, int LinearRuleMatches = 0)
{
    /// <summary>The characters the regexes were given: the User-Agent's length once per regex run, every section.</summary>
    public int CharactersScanned { get; init; }

    /// <summary>The most regexes one section ran.</summary>
    public int MostRunsInASection { get; init; }
}

/// <summary>
/// uap-core's rules (<c>regexes.yaml</c>): in each section the first rule whose regex matches wins, as in every
/// ua-parser port. A rule runs only when the literals any match of it must contain (<see cref="RequiredLiterals"/>)
/// all occur in the User-Agent, which leaves a few regex runs per section of the ~1,200; a section runs at most
/// <see cref="MaxRegexRunsPerSection"/> regexes and a User-Agent at most <see cref="MaxCharactersScanned"/> characters'
/// worth of them; and the costliest rules (<see cref="IsCostly"/>) are searched in time
/// linear in the User-Agent, so the work per User-Agent is bounded whatever it contains.
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

    /// <summary>
    /// The work one User-Agent may cost, in characters given to regexes (its length once per regex run, all three
    /// sections together); past it the sections not yet answered say "Other". A regex's search costs about its text's
    /// length, so this bounds what a long User-Agent stuffed with many rules' literals costs: with
    /// <see cref="MaxRegexRunsPerSection"/> alone, ~100 regexes over ~500 characters (53,928). Twice what the costliest
    /// of uap-core 0.18.0's 18,008 test User-Agents needs (6,504: 24 regexes over 271 characters; 99.99th percentile
    /// 6,169; ua-parser's 13,434 at most 4,085), and over what UserAgentRulesTests' crafted ones need for the answer of
    /// every rule in order (at most 12,250).
    /// </summary>
    public const int MaxCharactersScanned = 13_000;

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
    private readonly int _maxCharactersScanned;

    private UserAgentRules(Rule[] browsers, Rule[] os, Rule[] devices, string[] literals, int maxRegexRunsPerSection, int maxCharactersScanned)
    {
        _maxCharactersScanned = maxCharactersScanned;
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

    /// <summary>The patterns of the rules searched in linear time (<see cref="IsCostly"/> and .NET could build the twins).</summary>
    public IEnumerable<string> LinearRulePatterns => _browsers.Concat(_os).Concat(_devices).Where(r => r.Linear is not null).Select(r => r.Regex.ToString());

    /// <summary>
    /// The rules whose backtracking search costs milliseconds on a crafted 500-character User-Agent that passes their
    /// literal filter: <c>^.{0,N}</c> prefixes (the bot rules <c>^.{0,200}?(...){0,50}(?:...[Bb]ot|[Ss]pider...)</c>: the
    /// backtracking engine tries the rest of the rule, with all its own loops, after each of the N+1 prefixes) and long
    /// name lists (the ~200 crawler names, some behind <c>\w{0,30}</c>, tried at every position). Twins of all ~1,200
    /// rules would take seconds to build and most rules cost microseconds anyway.
    /// </summary>
    public static bool IsCostly(string pattern) => LinearMatcher.Needed(pattern);

    public static UserAgentRules Load(int maxRegexRunsPerSection = MaxRegexRunsPerSection, int maxCharactersScanned = MaxCharactersScanned)
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
            maxRegexRunsPerSection,
            maxCharactersScanned);
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
            var linear = LinearMatcher.Needed(entry.Regex) ? LinearMatcher.For(regex, flags) : null;
            rules.Add(new Rule(regex, linear, clauses, replacement(entry), entry.BrandReplacement, entry.ModelReplacement));
        }
        return [.. rules];
    }

    /// <summary>
    /// Runs every rule on a browser's and a crawler's User-Agent, so the regexes' lazily built matchers exist before
    /// the first request (the linear-time twins build their automata's states as they meet characters).
    /// </summary>
    public void Warm()
    {
        foreach (var rule in _browsers.Concat(_os).Concat(_devices))
        {
            var unused = new Work();
            _ = rule.Match("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", ref unused);
            _ = rule.Match("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ref unused);
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
        var work = new Work();
        var browser = FirstMatch(_browsers, userAgent, scan, ref work, out _) ?? "Other";
        var os = FirstMatch(_os, userAgent, scan, ref work, out _) ?? "Other";
        var device = FirstMatch(_devices, userAgent, scan, ref work, out var model) ?? "Other";
        var isMerchantApp = userAgent.Contains("tapcart", StringComparison.OrdinalIgnoreCase)
            || userAgent.Contains("fuego", StringComparison.OrdinalIgnoreCase);
        var info = new UserAgentInfo(browser, os, DeviceTypeOf(userAgent, browser, os, device, model), isMerchantApp);
        return new UserAgentAnalysis(info, device, model, work.RegexRuns, work.LinearRuns, work.LinearMatches)
        {
            CharactersScanned = work.CharactersScanned,
            MostRunsInASection = work.MostRunsInASection,
        };
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

    private string? FirstMatch(Rule[] rules, string userAgent, LiteralScan scan, ref Work work, out string? model)
    {
        model = null;
        var runs = 0;
        foreach (var rule in rules)
        {
            if (!scan.Holds(rule.Clauses))
            {
                continue;
            }
            if (runs == _maxRegexRunsPerSection || work.CharactersScanned > _maxCharactersScanned - userAgent.Length)
            {
                return null;
            }
            work.MostRunsInASection = Math.Max(work.MostRunsInASection, ++runs);
            work.CharactersScanned += userAgent.Length;
            var match = rule.Match(userAgent, ref work);
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

    private struct Work
    {
        public int RegexRuns, LinearRuns, LinearMatches, CharactersScanned, MostRunsInASection;
    }

    /// <param name="Linear">For a costly rule (<see cref="IsCostly"/>): its linear-time search, null when .NET cannot build it.</param>
    /// <param name="Clauses">Literal ids: every clause must have one of its literals in the User-Agent.</param>
    private sealed record Rule(Regex Regex, LinearMatcher? Linear, int[][] Clauses, string? Replacement, string? BrandReplacement, string? ModelReplacement)
    {
        public Match Match(string userAgent, ref Work work)
        {
            work.RegexRuns++;
            if (Linear is null)
            {
                return Regex.Match(userAgent);
            }
            work.LinearRuns++;
            var match = Linear.Match(userAgent, Regex);
            if (match.Success)
            {
                work.LinearMatches++;
            }
            return match;
        }
    }

    /// <summary>
    /// A costly rule's first match, as its backtracking regex finds it, in time linear in the User-Agent. The
    /// backtracking engine tries the rule at position 0, 1, 2, ... (for <c>^.{0,N}?rest</c>: <c>rest</c> after prefixes
    /// of 0, 1, ... N characters; for <c>^.{0,N}rest</c>: of N, N-1, ... 0) and takes the first position where it
    /// matches, which costs it the rule's whole backtracking at every position before. Here .NET's non-backtracking
    /// engine says, position by position, whether the rule matches starting there (its anchored automaton stops within
    /// a few characters where it cannot), and the backtracking regex runs once, anchored (<c>\G</c>) at the first such
    /// position, for the same match and groups. Only anchored twins are used: an unanchored twin of a bot rule grows
    /// its automaton past 10,000 states under varied traffic and then, on .NET 10, answers "no match" for User-Agents
    /// such as <c>aaaabot</c> that do match (docs/ingestion.md), while anchored ones stay at a few hundred states.
    /// Their match at a position is checked on the slice of the User-Agent that starts one character before it, so
    /// <c>\b</c> sees that character and <c>^</c> cannot match there, as in the whole string.
    /// </summary>
    private sealed class LinearMatcher
    {
        private const string AutomatonSizeSetting = "REGEX_NONBACKTRACKING_MAX_AUTOMATA_SIZE";
        // The crawler-name list expands to ~12,300 automaton nodes, over .NET's default of 10,000.
        private const int AutomatonSize = 20_000;
        private const int ManyAlternatives = 40;
        private static readonly Regex LongPrefix = new(@"^\^\.\{0,(\d+)\}(\?)?", RegexOptions.CultureInvariant);

        private readonly Regex _atStart;
        private readonly Regex _afterOne;
        private readonly Regex _anchored;
        private readonly int _longestPrefix;
        private readonly bool _greedy;

        private LinearMatcher(Regex atStart, Regex afterOne, Regex anchored, int longestPrefix, bool greedy)
        {
            _atStart = atStart;
            _afterOne = afterOne;
            _anchored = anchored;
            _longestPrefix = longestPrefix;
            _greedy = greedy;
        }

        public static bool Needed(string pattern) => LongPrefix.IsMatch(pattern) || PatternShape.Of(pattern).MostAlternatives >= ManyAlternatives;

        public static LinearMatcher? For(Regex rule, RegexOptions flags)
        {
            var pattern = rule.ToString();
            var body = pattern;
            var longestPrefix = -1;
            var greedy = false;
            var prefix = LongPrefix.Match(pattern);
            if (prefix.Success && !PatternShape.Of(pattern[prefix.Length..]).TopLevelAlternation)
            {
                body = pattern[prefix.Length..];
                longestPrefix = int.Parse(prefix.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                greedy = !prefix.Groups[2].Success;
            }
            if (AppContext.GetData(AutomatonSizeSetting) is not int size || size < AutomatonSize)
            {
                AppContext.SetData(AutomatonSizeSetting, AutomatonSize);
            }
            try
            {
                var twin = flags | RegexOptions.NonBacktracking | RegexOptions.ExplicitCapture;
                var anchored = new Regex(@"\G(?:" + body + ")", flags);
                if (anchored.GetGroupNumbers().Length != rule.GetGroupNumbers().Length)
                {
                    return null;
                }
                return new LinearMatcher(new Regex("^(?:" + body + ")", twin), new Regex(@"^[\s\S](?:" + body + ")", twin), anchored, longestPrefix, greedy);
            }
            catch (NotSupportedException)
            {
                return null;
            }
        }

        public Match Match(string userAgent, Regex rule)
        {
            var last = userAgent.Length;
            if (_longestPrefix >= 0)
            {
                var newline = userAgent.IndexOf('\n'); // '.' does not match it
                last = Math.Min(Math.Min(_longestPrefix, last), newline < 0 ? last : newline);
            }
            var start = -1;
            if (_greedy)
            {
                for (var at = last; at >= 0 && start < 0; at--)
                {
                    start = StartsAt(userAgent, at) ? at : -1;
                }
            }
            else
            {
                for (var at = 0; at <= last && start < 0; at++)
                {
                    start = StartsAt(userAgent, at) ? at : -1;
                }
            }
            if (start < 0)
            {
                return System.Text.RegularExpressions.Match.Empty;
            }
            var match = _anchored.Match(userAgent, start);
            // Should the engines ever disagree on a match, the rule's own search decides.
            return match.Success ? match : rule.Match(userAgent);
        }

        private bool StartsAt(string userAgent, int at) =>
            at == 0 ? _atStart.IsMatch(userAgent) : _afterOne.IsMatch(userAgent.AsSpan(at - 1));
    }

    /// <summary>Whether a pattern has a <c>|</c> outside any group, and the most alternatives of one group.</summary>
    private readonly record struct PatternShape(bool TopLevelAlternation, int MostAlternatives)
    {
        public static PatternShape Of(string pattern)
        {
            var alternatives = new Stack<int>();
            alternatives.Push(1);
            var most = 0;
            for (var i = 0; i < pattern.Length; i++)
            {
                switch (pattern[i])
                {
                    case '\\':
                        i++;
                        break;
                    case '[':
                        // A class ends at the first ']' that is not escaped and not its first member.
                        i++;
                        if (i < pattern.Length && pattern[i] == '^')
                        {
                            i++;
                        }
                        for (var first = true; i < pattern.Length && (pattern[i] != ']' || first); i++, first = false)
                        {
                            if (pattern[i] == '\\')
                            {
                                i++;
                            }
                        }
                        break;
                    case '(':
                        alternatives.Push(1);
                        break;
                    case ')' when alternatives.Count > 1:
                        most = Math.Max(most, alternatives.Pop());
                        break;
                    case '|':
                        alternatives.Push(alternatives.Pop() + 1);
                        break;
                }
            }
            var top = alternatives.Count == 1 ? alternatives.Pop() : int.MaxValue;
            return new PatternShape(top > 1, Math.Max(most, top));
        }
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
