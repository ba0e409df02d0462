namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// What any match of a regex must contain: clauses that all hold, each a set of lowercase ASCII strings one of
/// which occurs in the matched text (compared case-folded, see <see cref="CaseFolding"/>). A rule whose clauses do
/// not all hold for a User-Agent cannot match it, so its regex need not run. The analysis only understands the
/// syntax uap-core's rules use; for anything else it answers with no clause, which never skips a rule.
/// </summary>
public static class RequiredLiterals
{
    // Cross products of alternations grow fast; past these sizes a part counts as "anything".
    private const int MaxStrings = 16;
    private const int MaxStringLength = 32;

    public static IReadOnlyList<IReadOnlySet<string>> Of(string pattern)
    {
        try
        {
            var reader = new PatternReader(pattern);
            var node = reader.ReadAlternation();
            if (!reader.AtEnd)
            {
                return [];
            }
            return node.Required();
        }
        catch (NotSupportedException)
        {
            return [];
        }
    }

    /// <summary>
    /// <see cref="Exact"/>: every string the part can match, when they are few (null: too many or unknown);
    /// <see cref="Clauses"/>: what a match of the part must contain besides.
    /// </summary>
    private sealed record Part(HashSet<string>? Exact, List<HashSet<string>> Clauses)
    {
        public static Part Anything() => new(null, []);

        public static Part Empty() => new([""], []);

        public List<HashSet<string>> Required()
        {
            var clauses = new List<HashSet<string>>(Clauses);
            if (Exact is not null && !Exact.Contains(""))
            {
                clauses.Add(Exact);
            }
            return clauses;
        }
    }

    private sealed class PatternReader(string pattern)
    {
        private int _at;

        public bool AtEnd => _at == pattern.Length;

        public Part ReadAlternation()
        {
            var branches = new List<Part> { ReadConcatenation() };
            while (_at < pattern.Length && pattern[_at] == '|')
            {
                _at++;
                branches.Add(ReadConcatenation());
            }
            return branches.Count == 1 ? branches[0] : Alternation(branches);
        }

        private static Part Alternation(List<Part> branches)
        {
            if (branches.All(b => b.Exact is not null))
            {
                var exact = new HashSet<string>(branches.SelectMany(b => b.Exact!), StringComparer.Ordinal);
                if (exact.Count <= MaxStrings)
                {
                    return new Part(exact, []);
                }
            }
            // A match goes through one branch, so it contains one of the branches' strongest requirements.
            var clause = new HashSet<string>(StringComparer.Ordinal);
            foreach (var branch in branches)
            {
                var best = branch.Required().OrderByDescending(c => c.Min(s => s.Length)).FirstOrDefault();
                if (best is null)
                {
                    return Part.Anything();
                }
                clause.UnionWith(best);
            }
            return new Part(null, [clause]);
        }

        private Part ReadConcatenation()
        {
            var clauses = new List<HashSet<string>>();
            var exact = new HashSet<string>(StringComparer.Ordinal) { "" };
            var allExact = true;
            while (_at < pattern.Length && pattern[_at] is not ('|' or ')'))
            {
                var part = ReadQuantified();
                if (part.Exact is not null)
                {
                    var product = new HashSet<string>(exact.SelectMany(_ => part.Exact, (a, b) => a + b), StringComparer.Ordinal);
                    if (product.Count <= MaxStrings && product.All(s => s.Length <= MaxStringLength))
                    {
                        exact = product;
                        continue;
                    }
                }
                allExact = false;
                Flush(exact, clauses);
                clauses.AddRange(part.Required());
                exact = [""];
            }
            if (allExact)
            {
                return new Part(exact, clauses);
            }
            Flush(exact, clauses);
            return new Part(null, clauses);
        }

        private static void Flush(HashSet<string> exact, List<HashSet<string>> clauses)
        {
            if (!exact.Contains(""))
            {
                clauses.Add(exact);
            }
        }

        private Part ReadQuantified()
        {
            var atom = ReadAtom();
            if (_at == pattern.Length)
            {
                return atom;
            }
            int min, max;
            switch (pattern[_at])
            {
                case '*': min = 0; max = int.MaxValue; _at++; break;
                case '+': min = 1; max = int.MaxValue; _at++; break;
                case '?': min = 0; max = 1; _at++; break;
                case '{' when TryReadCount(out min, out max): break;
                default: return atom;
            }
            if (_at < pattern.Length && pattern[_at] == '?')
            {
                _at++; // lazy: the same strings, matched in another order
            }
            if (min == 1 && max == 1)
            {
                return atom;
            }
            if (max == 1)
            {
                // min is 0: the atom or nothing.
                return atom.Exact is null ? Part.Anything() : new Part([.. atom.Exact, ""], []);
            }
            // Repeated at least once: what one copy requires still holds; exact strings are no longer known.
            return min == 0 ? Part.Anything() : new Part(null, atom.Required());
        }

        private bool TryReadCount(out int min, out int max)
        {
            var end = pattern.IndexOf('}', _at);
            min = max = 0;
            if (end < 0)
            {
                return false;
            }
            var body = pattern[(_at + 1)..end];
            var comma = body.IndexOf(',');
            var low = comma < 0 ? body : body[..comma];
            var high = comma < 0 ? body : body[(comma + 1)..];
            if (!int.TryParse(low, System.Globalization.NumberStyles.None, null, out min))
            {
                return false; // not a quantifier: .NET reads '{' as a literal
            }
            if (high.Length == 0)
            {
                max = int.MaxValue;
            }
            else if (!int.TryParse(high, System.Globalization.NumberStyles.None, null, out max))
            {
                return false;
            }
            _at = end + 1;
            return true;
        }

        private Part ReadAtom()
        {
            var c = pattern[_at++];
            switch (c)
            {
                case '(':
                    if (_at < pattern.Length && pattern[_at] == '?')
                    {
                        if (_at + 1 < pattern.Length && pattern[_at + 1] == ':')
                        {
                            _at += 2;
                        }
                        else
                        {
                            throw new NotSupportedException(); // lookarounds, inline options, named groups
                        }
                    }
                    var inner = ReadAlternation();
                    if (_at == pattern.Length || pattern[_at] != ')')
                    {
                        throw new NotSupportedException();
                    }
                    _at++;
                    return inner;
                case '[':
                    return ReadClass();
                case '.':
                    return Part.Anything();
                case '^' or '$':
                    return Part.Empty();
                case '\\':
                    return ReadEscape();
                case '*' or '+' or '?' or ')':
                    throw new NotSupportedException();
                default:
                    return Literal(c);
            }
        }

        private Part ReadEscape()
        {
            if (_at == pattern.Length)
            {
                throw new NotSupportedException();
            }
            var c = pattern[_at++];
            return c switch
            {
                'b' or 'B' or 'A' or 'z' or 'Z' => Part.Empty(),
                'd' or 'D' or 'w' or 'W' or 's' or 'S' => Part.Anything(),
                _ when char.IsAsciiLetterOrDigit(c) => throw new NotSupportedException(), // \x41, \1, \p{..}: not analysed
                _ => Literal(c),
            };
        }

        private Part ReadClass()
        {
            // Only a class of a few plain characters ([Bb], [ _]) gives exact strings; any other class is "anything".
            var members = new HashSet<string>(StringComparer.Ordinal);
            var plain = _at < pattern.Length && pattern[_at] != '^';
            var first = true;
            while (_at < pattern.Length && (pattern[_at] != ']' || first))
            {
                first = false;
                var c = pattern[_at++];
                if (c == '\\')
                {
                    if (_at == pattern.Length)
                    {
                        throw new NotSupportedException();
                    }
                    c = pattern[_at++];
                    if (char.IsAsciiLetterOrDigit(c))
                    {
                        plain = false;
                        continue;
                    }
                }
                else if (c == '[')
                {
                    throw new NotSupportedException(); // class subtraction
                }
                if (_at + 1 < pattern.Length && pattern[_at] == '-' && pattern[_at + 1] != ']')
                {
                    plain = false; // a range
                    _at += 2;
                    if (pattern[_at - 1] == '\\')
                    {
                        _at++;
                    }
                    continue;
                }
                var folded = CaseFolding.Fold(c);
                if (folded is null)
                {
                    plain = false;
                }
                else
                {
                    members.Add(folded.Value.ToString());
                }
            }
            if (_at == pattern.Length)
            {
                throw new NotSupportedException();
            }
            _at++;
            return plain && members.Count is > 0 and <= 4 ? new Part(members, []) : Part.Anything();
        }

        private static Part Literal(char c)
        {
            var folded = CaseFolding.Fold(c);
            return folded is null ? Part.Anything() : new Part([folded.Value.ToString()], []);
        }
    }
}
