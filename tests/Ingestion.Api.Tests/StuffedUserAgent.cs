using Beacon.Ingestion.Enrichment;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// The costliest shape of User-Agent found for the parser's literal filter: the required literals
/// (<see cref="RequiredLiterals"/>) of as many ordinary rules (not <see cref="UserAgentRules.IsCostly"/>, which are
/// searched in linear time) as fit, so that each section runs backtracking regexes over a long text until its budget
/// ends. Rules are taken greedily, those that add the fewest characters first (a literal already in the text is free),
/// in the rules' order on a tie, so the result is the same on every run; a rule whose literals would make some rule
/// match is left out, since a match ends its section's work. scripts/bench sends it, with a unique tail,
/// as tests/Load/GrpcBench/beacon-batch.lua's sixth shape.
/// </summary>
internal static class StuffedUserAgent
{
    public const string Separator = "; ";

    /// <param name="rules">The rules' patterns, every section, in order.</param>
    /// <param name="unbounded">The rules without a budget, which say whether a section matches.</param>
    /// <param name="length">The most characters the result may have.</param>
    /// <param name="tail">What follows the result, after <see cref="Separator"/>, as the bench's unique tail does.</param>
    public static string Build(IEnumerable<string> rules, UserAgentRules unbounded, int length, string tail)
    {
        var candidates = rules
            .Where(pattern => !UserAgentRules.IsCostly(pattern))
            .Select(pattern => RequiredLiterals.Of(pattern))
            .Where(clauses => clauses.Count > 0)
            .ToList();
        var text = "";
        var taken = new bool[candidates.Count];
        while (true)
        {
            var best = -1;
            List<string>? bestAdded = null;
            for (var i = 0; i < candidates.Count; i++)
            {
                if (taken[i])
                {
                    continue;
                }
                var added = Missing(candidates[i], text);
                if (text.Length + added.Sum(l => l.Length + Separator.Length) > length)
                {
                    continue;
                }
                if (bestAdded is null || Length(added) < Length(bestAdded))
                {
                    (best, bestAdded) = (i, added);
                }
            }
            if (bestAdded is null)
            {
                return text;
            }
            taken[best] = true;
            var longer = text;
            foreach (var literal in bestAdded)
            {
                longer += (longer.Length == 0 ? "" : Separator) + literal;
            }
            if (MatchesNothing(unbounded, longer + Separator + tail))
            {
                text = longer;
            }
        }
    }

    private static bool MatchesNothing(UserAgentRules rules, string userAgent)
    {
        var analysis = rules.Analyze(userAgent);
        return analysis.Info.Browser == "Other" && analysis.Info.Os == "Other" && analysis.Device == "Other";
    }

    private static int Length(List<string> literals) => literals.Sum(l => l.Length);

    // For each clause not yet holding in the text, its shortest literal (the first in ordinal order on a tie).
    private static List<string> Missing(IReadOnlyList<IReadOnlySet<string>> clauses, string text)
    {
        var missing = new List<string>();
        foreach (var clause in clauses)
        {
            if (clause.Any(l => text.Contains(l, StringComparison.Ordinal) || missing.Any(m => m.Contains(l, StringComparison.Ordinal))))
            {
                continue;
            }
            missing.Add(clause.OrderBy(l => l.Length).ThenBy(l => l, StringComparer.Ordinal).First());
        }
        return missing;
    }
}
