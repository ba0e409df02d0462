using System.Text.RegularExpressions;
using Beacon.Ingestion.Enrichment;
using YamlDotNet.RepresentationModel;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// The vendored ua-parser rules (uap-core's regexes.yaml) give the same answers as when every rule ran one after
/// another, and cost a bounded amount of work whatever the User-Agent.
/// </summary>
public sealed class UserAgentRulesTests
{
    private const string NormalUserAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";

    private static readonly Lazy<RulesOneByOne> Reference = new(RulesOneByOne.Load);

    // The room beacon-batch.lua leaves after the stuffing for "; " and its unique tail (RUN, thread, counter), and a tail.
    private const int BenchTail = 24;
    private const string SampleTail = "8f3a9c0d1e2b1-1";

    private static readonly Lazy<string> Stuffing = new(() => StuffedUserAgent.Build(
        RulesOneByOne.Entries().Select(e => e.Pattern), UserAgentRules.Load(int.MaxValue, int.MaxValue), UserAgentRules.MaxLength - BenchTail, SampleTail));

    private static string StuffedWithTail => Stuffing.Value + StuffedUserAgent.Separator + SampleTail;

    // The most work any test User-Agent costs, in characters given to regexes.
    private static readonly Lazy<int> RealMost = new(() => TestCases().Max(c => UserAgentParser.Analyze(c.UserAgent).CharactersScanned));

    [Fact]
    public void EveryVendoredRuleCompilesAsADotNetRegex()
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var (section, pattern, _) in RulesOneByOne.Entries())
        {
            count++;
            try
            {
                _ = new Regex(pattern, RegexOptions.CultureInvariant);
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{section}: {pattern} ({ex.Message})");
            }
        }

        Assert.True(count > 1000, $"only {count} rules read");
        Assert.Empty(failures);
    }

    [Fact]
    public void ParsingGivesWhatTheRulesRunOneAfterAnotherGiveOnUapCoresTestUserAgents()
    {
        var reference = Reference.Value;
        var cases = TestCases().ToList();
        Assert.True(cases.Count > 13_000, $"only {cases.Count} test User-Agents read");

        var differences = new List<string>();
        var familiesMissed = new List<string>();
        var mostRuns = 0;
        var mostScanned = 0;
        foreach (var (file, userAgent, expectedFamily) in cases)
        {
            var analysis = UserAgentParser.Analyze(userAgent);
            var expected = reference.Parse(userAgent);
            mostRuns = Math.Max(mostRuns, analysis.RegexRuns);
            mostScanned = Math.Max(mostScanned, analysis.CharactersScanned);
            var actual = (analysis.Info.Browser, analysis.Info.Os, analysis.Device, analysis.Model);
            if (actual != expected)
            {
                differences.Add($"{file}: '{userAgent}': {actual} instead of {expected}");
            }
            // Only uap-core's own 0.18.0 suites (UAP_CORE_TESTS) expect what the vendored 0.18.0 rules say.
            if (expectedFamily is not null)
            {
                var family = file switch { "test_ua.yaml" => expected.Browser, "test_os.yaml" => expected.Os, _ => expected.Device };
                if (family != expectedFamily)
                {
                    familiesMissed.Add($"{file}: '{userAgent}': {family} instead of {expectedFamily}");
                }
            }
        }

        Assert.Empty(differences);
        Assert.Empty(familiesMissed);
        // Real User-Agents stay under both budgets, so they never change their answer.
        Assert.True(mostRuns <= UserAgentRules.MaxRegexRunsPerSection, $"a test User-Agent ran {mostRuns} regexes");
        Assert.True(mostScanned < UserAgentRules.MaxCharactersScanned, $"a test User-Agent gave regexes {mostScanned} characters");
    }

    [Theory]
    [MemberData(nameof(CraftedUserAgents))]
    public void CraftedUserAgentsGiveWhatTheRulesRunOneAfterAnotherGive(string shape, string userAgent)
    {
        var analysis = UserAgentParser.Analyze(userAgent);

        Assert.True(userAgent.Length <= UserAgentRules.MaxLength, shape);
        Assert.Equal(Reference.Value.Parse(userAgent), (analysis.Info.Browser, analysis.Info.Os, analysis.Device, analysis.Model));
    }

    [Theory]
    [MemberData(nameof(CraftedUserAgents))]
    public void ACraftedUserAgentRunsFewRegexes(string shape, string userAgent)
    {
        var normal = UserAgentParser.Analyze(NormalUserAgent).RegexRuns;

        var crafted = UserAgentParser.Analyze(userAgent).RegexRuns;

        // One after another, the rules ran ~1,200 regexes for every User-Agent.
        Assert.True(crafted <= Math.Max(4 * normal, 40), $"{shape}: {crafted} regexes run, {normal} for a phone's Chrome");
    }

    [Theory]
    [MemberData(nameof(CraftedUserAgents))]
    public void ACraftedUserAgentCostsNoMoreWorkThanTheCostliestRealOnesCost(string shape, string userAgent)
    {
        var realMost = RealMost.Value;

        var crafted = UserAgentParser.Analyze(userAgent);

        // Counted, not timed: a regex's search costs about the length of its text, so the characters given to regexes
        // are the work. The bound is of the order of what real User-Agents reach (ua-parser's test User-Agents 4,085 at
        // most, uap-core's 6,504), not a multiple of a browser's: the stuffed shape gave regexes 53,928 before it.
        Assert.True(crafted.CharactersScanned <= UserAgentRules.MaxCharactersScanned, $"{shape}: {crafted.CharactersScanned} characters scanned");
        Assert.True(UserAgentRules.MaxCharactersScanned <= 4 * realMost,
            $"the bound {UserAgentRules.MaxCharactersScanned} is over 4 times the {realMost} a test User-Agent reaches");
    }

    [Fact]
    public void TheBenchsStuffedShapeIsTheStuffingOfTheseRules()
    {
        var script = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "beacon-batch.lua"));

        var stuffing = Regex.Match(script, "^local stuffing = \"(.*)\"$", RegexOptions.Multiline);

        Assert.True(stuffing.Success, "no stuffing line in beacon-batch.lua");
        Assert.Equal(Stuffing.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal), stuffing.Groups[1].Value);
    }

    [Fact]
    public void AStuffedUserAgentPassesTheLiteralFilterOfManyRulesAndMatchesNone()
    {
        var unbounded = UserAgentRules.Load(int.MaxValue, int.MaxValue).Analyze(StuffedWithTail);

        var bounded = UserAgentParser.Analyze(StuffedWithTail);

        Assert.True(unbounded.RegexRuns >= 100, $"only {unbounded.RegexRuns} regexes run without the budgets: not the costly shape");
        Assert.True(bounded.CharactersScanned < unbounded.CharactersScanned / 4, $"{bounded.CharactersScanned} of {unbounded.CharactersScanned} characters scanned");
        Assert.Equal((unbounded.Info, unbounded.Device), (bounded.Info, bounded.Device));
        Assert.Equal(Reference.Value.Parse(StuffedWithTail), (bounded.Info.Browser, bounded.Info.Os, bounded.Device, bounded.Model));
    }

    [Fact]
    public void AUserAgentGivesUpAfterItsBudgetOfCharactersScanned()
    {
        var unbounded = UserAgentRules.Load(maxCharactersScanned: int.MaxValue).Analyze(NormalUserAgent);
        Assert.True(unbounded.RegexRuns > 6, $"only {unbounded.RegexRuns} regexes run: not a test of the budget");

        var bounded = UserAgentRules.Load(maxCharactersScanned: 3 * NormalUserAgent.Length).Analyze(NormalUserAgent);

        Assert.Equal(3, bounded.RegexRuns);
        Assert.Equal(3 * NormalUserAgent.Length, bounded.CharactersScanned);
        Assert.NotEqual((unbounded.Info, unbounded.Device), (bounded.Info, bounded.Device));
    }

    [Theory]
    [MemberData(nameof(CraftedUserAgents))]
    public void ACostlyBotRuleRunsItsBacktrackingRegexOnlyWhenItMatches(string shape, string userAgent)
    {
        var analysis = UserAgentParser.Analyze(userAgent);

        // uap-core's ^.{0,200}?(...){0,50}(?:...[Bb]ot|[Ss]pider...) rules cost 2-7 ms each on the backtracking
        // engine on such User-Agents (docs/benchmarks.md); a match ends its section, so at most one per section runs.
        Assert.True(analysis.LinearRuleMatches <= 3, $"{shape}: {analysis.LinearRuleMatches} costly rules' regexes run");
    }

    [Fact]
    public void ASpiderNameAfterFourHundredSpacesRunsNoCostlyBotRule()
    {
        var userAgent = "Mozilla/5.0 (" + new string(' ', 400) + "8f3a9c Spider/1.0 bot crawler";

        var analysis = UserAgentParser.Analyze(userAgent);

        Assert.True(analysis.LinearRuns >= 3, $"only {analysis.LinearRuns} costly rules passed the literal filter: not a test of the linear search");
        Assert.Equal(0, analysis.LinearRuleMatches);
        Assert.Equal(Reference.Value.Parse(userAgent), (analysis.Info.Browser, analysis.Info.Os, analysis.Device, analysis.Model));
    }

    [Fact]
    public void ACostlyBotRuleStillRunsWhenItsLinearSearchFindsAMatch()
    {
        const string userAgent = "Mozilla/5.0 (compatible; sgbot v0.01a, sgcrawlerbot@gmail.com)";

        var analysis = UserAgentParser.Analyze(userAgent);

        Assert.True(analysis.LinearRuleMatches >= 1);
        Assert.Equal("sgbot", analysis.Info.Browser);
    }

    [Fact]
    public void TheCrawlerNameListAndTheLongPrefixRulesAreSearchedInLinearTime()
    {
        var linear = UserAgentRules.Load().LinearRulePatterns.ToHashSet(StringComparer.Ordinal);
        var costly = RulesOneByOne.Entries().Select(e => e.Pattern)
            .Where(p => p.StartsWith("^.{0,", StringComparison.Ordinal) || p.StartsWith("(CSimpleSpider|", StringComparison.Ordinal))
            .ToList();
        Assert.True(costly.Count >= 9, $"only {costly.Count} such rules found");
        Assert.All(costly, p => Assert.True(UserAgentRules.IsCostly(p), p));

        // Every twin could be built (the crawler list is over .NET's default automaton size).
        Assert.All(costly, p => Assert.Contains(p, linear));
        // scripts/bench's crawler-name shape passes only the crawler list's literal filter, and runs no backtracking search.
        var analysis = UserAgentParser.Analyze("Mozilla/5.0 (" + string.Concat(Enumerable.Repeat("ip2 ", 118)) + "8f3a9c");
        Assert.True(analysis.RegexRuns >= 1, "no rule passed the literal filter: not a test of the linear search");
        Assert.Equal(analysis.RegexRuns, analysis.LinearRuns);
    }

    [Fact]
    public void ABotRuleStillMatchesAfterThousandsOfOtherBotUserAgents()
    {
        // On .NET 10 an unanchored non-backtracking twin of uap-core's ^.{0,200}?(...[^C][^Uu][Bb]ot)\b rule, once these
        // User-Agents have grown its automaton, said "no match" for "aabot" (deterministically): the rule's answer
        // depended on the traffic before. The anchored twins keep few states.
        var rules = UserAgentRules.Load();
        rules.Warm();
        foreach (var (_, userAgent, _) in TestCases().Take(4000))
        {
            _ = rules.Analyze(userAgent + "bot");
        }

        foreach (var userAgent in new[] { "aabot", "aaaabot", "bingbot" })
        {
            var analysis = rules.Analyze(userAgent);
            Assert.Equal(Reference.Value.Parse(userAgent), (analysis.Info.Browser, analysis.Info.Os, analysis.Device, analysis.Model));
        }
    }

    [Fact]
    public void ASectionGivesUpAfterItsRegexBudget()
    {
        // A phone's Chrome passes the literal filter of several rules in each section before the one that matches.
        var unbounded = UserAgentRules.Load(maxRegexRunsPerSection: int.MaxValue).Analyze(NormalUserAgent);
        Assert.True(unbounded.RegexRuns > 6, $"only {unbounded.RegexRuns} regexes run: not a test of the budget");

        var bounded = UserAgentRules.Load(maxRegexRunsPerSection: 2).Analyze(NormalUserAgent);

        Assert.True(bounded.RegexRuns <= 6, $"{bounded.RegexRuns} regexes run");
        Assert.NotEqual((unbounded.Info, unbounded.Device), (bounded.Info, bounded.Device));
    }

    [Fact]
    public void AUserAgentOverTheLengthCapRunsNoRegex()
    {
        var analysis = UserAgentParser.Analyze(NormalUserAgent + new string(' ', UserAgentRules.MaxLength));

        Assert.Equal(0, analysis.RegexRuns);
        Assert.Equal(new UserAgentInfo("Other", "Other", "other", false), analysis.Info);
    }

    [Theory]
    [InlineData("pattern(Chrome|CriOS)/(\\d+)", new[] { "patternchrome/|patterncrios/" })]
    [InlineData("; {0,2}(A2|A5)_?(?: Build|\\) AppleWebKit)", new[] { ";", "a2 build|a2) applewebkit|a2_ build|a2_) applewebkit|a5 build|a5) applewebkit|a5_ build|a5_) applewebkit" })]
    [InlineData("(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)", new[] { "googlebot" })]
    [InlineData("[Bb]ai[Dd]u[Ss]pider", new[] { "baiduspider" })]
    [InlineData("(iPad)|(Nexus 7)", new[] { "ipad|nexus 7" })]
    [InlineData("(?:iPad|)x", new[] { "ipadx|x" })]
    [InlineData("Opera.{0,100}", new[] { "opera" })]
    [InlineData("(Opera)?Mini", new[] { "operamini|mini" })]
    [InlineData("a{x}", new[] { "a{x}" })]
    [InlineData("(?=Opera)Opera", new string[0])]
    [InlineData("\\x41BC", new string[0])]
    [InlineData("(a|\\d)", new string[0])]
    public void RequiredLiteralsAreWhatEveryMatchContains(string pattern, string[] expected)
    {
        var clauses = RequiredLiterals.Of(pattern).Select(c => string.Join('|', c.Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal);

        Assert.Equal(expected.Select(c => string.Join('|', c.Split('|').Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal), clauses);
    }

    [Fact]
    public void ACaseInsensitiveRuleStillMatchesLettersThatOnlyTheRegexEngineFoldsToAscii()
    {
        Assert.Equal('k', CaseFolding.Lookalikes['\u212A']); // KELVIN SIGN

        // uap-core's case-insensitive rule for Karbonn phones, with a Kelvin sign for the "K".
        const string userAgent = "Mozilla/5.0 (Linux; U; Android 4.0.4; \u212Aarbonn A1 Build/IMM76D) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30";
        var analysis = UserAgentParser.Analyze(userAgent);

        Assert.Equal("A1", analysis.Device);
        Assert.Equal(Reference.Value.Parse(userAgent), (analysis.Info.Browser, analysis.Info.Os, analysis.Device, analysis.Model));
    }

    [Fact]
    public void AStreamOfUniqueUserAgentsDoesNotPushARealOneOutOfTheCache()
    {
        var parser = new UserAgentParser();
        var real = parser.Parse(NormalUserAgent);
        Assert.Same(real, parser.Parse(NormalUserAgent)); // seen twice: in the cache proper

        for (var i = 0; i < 3 * UserAgentParser.CacheSize; i++)
        {
            _ = parser.Parse($"Mozilla/5.0 (X11; Linux x86_64) unique/{i}");
        }

        Assert.Same(real, parser.Parse(NormalUserAgent));
    }

    public static TheoryData<string, string> CraftedUserAgents()
    {
        static string Repeat(string s, int count) => string.Concat(Enumerable.Repeat(s, count));
        static string Cap(string s) => s.Length <= UserAgentRules.MaxLength ? s : s[..UserAgentRules.MaxLength];
        const string Tail = " Build/X) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/1.0 Mobile Safari/537.36";
        return new TheoryData<string, string>
        {
            { "semicolons (issue 13)", Cap("Mozilla/5.0 (" + Repeat("; ", 480) + "8f3a9c") },
            { "android semicolons", Cap("Mozilla/5.0 (Linux; Android" + Repeat("; ", 480) + "8f3a9c") },
            { "android semicolons, real tail", Cap("Mozilla/5.0 (Linux; Android 10" + Repeat("; ", 200) + "8f3a9c" + Tail) },
            { "repeated Android", Cap("Mozilla/5.0 (Linux; Android 10; " + Repeat("Android ", 50) + "8f3a9c" + Tail) },
            { "repeated Build", Cap("Mozilla/5.0 (Linux; Android 10; " + Repeat(" Build", 60) + "8f3a9c" + Tail) },
            { "repeated HTC", Cap("Mozilla/5.0 (Linux; Android 10; " + Repeat("HTC ", 90) + "8f3a9c" + Tail) },
            { "repeated bot", Cap("Mozilla/5.0 (" + Repeat("bot ", 100) + "8f3a9c" + Tail) },
            { "huge version", Cap("Mozilla/5.0 (Linux; Android 1" + Repeat(".1", 200) + Tail) },
            { "huge number", Cap("Mozilla/5.0 (Linux; Android " + new string('1', 400) + Tail) },
            { "spaces", Cap("Mozilla/5.0 (Linux; Android 10;" + new string(' ', 400) + "8f3a9c" + Tail) },
            { "spaces, spider", Cap("Mozilla/5.0 (" + new string(' ', 400) + " Spider/1.0 bot crawler") },
            { "slashes", Cap("Mozilla/5.0 (" + Repeat("a/", 250)) },
            // scripts/bench's two costliest shapes (tests/Load/GrpcBench/beacon-batch.lua), and names matched at the end.
            { "crawler-name repeats", Cap("Mozilla/5.0 (" + Repeat("ip2 ", 118) + "8f3a9c") },
            { "spaces, matching spider", "Mozilla/5.0 (" + new string(' ', 237) + "Spider/1 8f3a9c" },
            { "crawler name at the end", Cap("Mozilla/5.0 (" + Repeat("ip2 ", 115) + "IP2xBot/1 8f3a9c") },
            { "letters, bot at the end", "Mozilla/5.0 (" + new string('a', 240) + "bot/1 8f3a9c" },
            // scripts/bench's sixth shape: ordinary rules' literals, as many as fit.
            { "stuffed with rules' literals", StuffedWithTail },
        };
    }

    /// <summary>
    /// The vendored ua-parser test User-Agents (UserAgents/NOTICE.md), and uap-core 0.18.0's own suites with the
    /// family each expects when <c>UAP_CORE_TESTS</c> names a folder holding test_ua.yaml, test_os.yaml and
    /// test_device.yaml.
    /// </summary>
    private static IEnumerable<(string File, string UserAgent, string? ExpectedFamily)> TestCases()
    {
        var vendored = Path.Combine(AppContext.BaseDirectory, "UserAgents");
        foreach (var path in Directory.GetFiles(vendored, "*.yaml").Order(StringComparer.Ordinal))
        {
            foreach (var (userAgent, _) in Read(path))
            {
                yield return (Path.GetFileName(path), userAgent, null);
            }
        }
        var suites = Environment.GetEnvironmentVariable("UAP_CORE_TESTS");
        if (string.IsNullOrEmpty(suites))
        {
            yield break;
        }
        foreach (var file in new[] { "test_ua.yaml", "test_os.yaml", "test_device.yaml" })
        {
            foreach (var (userAgent, family) in Read(Path.Combine(suites, file)))
            {
                yield return (file, userAgent, family ?? "Other");
            }
        }
    }

    private static IEnumerable<(string UserAgent, string? Family)> Read(string path)
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(path))
        {
            yaml.Load(reader);
        }
        var cases = (YamlSequenceNode)((YamlMappingNode)yaml.Documents[0].RootNode).Children[new YamlScalarNode("test_cases")];
        foreach (YamlMappingNode testCase in cases)
        {
            var family = testCase.Children.TryGetValue(new YamlScalarNode("family"), out var node) ? ((YamlScalarNode)node).Value : null;
            yield return (((YamlScalarNode)testCase.Children[new YamlScalarNode("user_agent_string")]).Value!, string.IsNullOrEmpty(family) ? null : family);
        }
    }

    /// <summary>
    /// The parser as it was before the literal filter: every rule of a section tried in order on the backtracking
    /// engine, the first match wins. Slow (hundreds of regexes per User-Agent); the oracle the parser must equal.
    /// </summary>
    private sealed class RulesOneByOne
    {
        private readonly List<(string Section, Regex Regex, string? Replacement, string? Model)> _rules = [];

        public static IEnumerable<(string Section, string Pattern, YamlMappingNode Rule)> Entries()
        {
            using var stream = typeof(UserAgentParser).Assembly.GetManifestResourceStream("Beacon.Ingestion.Enrichment.regexes.yaml")!;
            var yaml = new YamlStream();
            yaml.Load(new StreamReader(stream));
            var root = (YamlMappingNode)yaml.Documents[0].RootNode;
            foreach (var section in new[] { "user_agent_parsers", "os_parsers", "device_parsers" })
            {
                foreach (YamlMappingNode rule in (YamlSequenceNode)root.Children[new YamlScalarNode(section)])
                {
                    yield return (section, ((YamlScalarNode)rule.Children[new YamlScalarNode("regex")]).Value!, rule);
                }
            }
        }

        public static RulesOneByOne Load()
        {
            var rules = new RulesOneByOne();
            foreach (var (section, pattern, rule) in Entries())
            {
                string? Get(string key) => rule.Children.TryGetValue(new YamlScalarNode(key), out var node) ? ((YamlScalarNode)node).Value : null;
                var options = RegexOptions.CultureInvariant | (Get("regex_flag") == "i" ? RegexOptions.IgnoreCase : RegexOptions.None);
                var replacement = Get(section switch { "user_agent_parsers" => "family_replacement", "os_parsers" => "os_replacement", _ => "device_replacement" });
                rules._rules.Add((section, new Regex(pattern, options), replacement, Get("model_replacement")));
            }
            return rules;
        }

        public (string Browser, string Os, string Device, string? Model) Parse(string userAgent) =>
            (First("user_agent_parsers", userAgent, out _) ?? "Other", First("os_parsers", userAgent, out _) ?? "Other",
                First("device_parsers", userAgent, out var model) ?? "Other", model);

        private string? First(string section, string userAgent, out string? model)
        {
            model = null;
            foreach (var rule in _rules.Where(r => r.Section == section))
            {
                var match = rule.Regex.Match(userAgent);
                if (!match.Success)
                {
                    continue;
                }
                model = rule.Model is not null ? Substitute(rule.Model, match) : match.Groups.Count > 1 ? match.Groups[1].Value : null;
                var value = rule.Replacement is not null ? Substitute(rule.Replacement, match) : match.Groups.Count > 1 ? match.Groups[1].Value : null;
                return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
            }
            return null;
        }

        private static string Substitute(string replacement, Match match)
        {
            if (!replacement.Contains('$'))
            {
                return replacement;
            }
            for (var group = 1; group <= 9; group++)
            {
                replacement = replacement.Replace("$" + group, group < match.Groups.Count ? match.Groups[group].Value : "", StringComparison.Ordinal);
            }
            return replacement.Trim();
        }
    }
}
