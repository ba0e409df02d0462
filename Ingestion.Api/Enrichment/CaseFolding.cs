using System.Text.RegularExpressions;

namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// The one case folding <see cref="RequiredLiterals"/> and the User-Agent are compared in: ASCII letters to lower
/// case, and the few other characters that .NET's case-insensitive regexes take for an ASCII letter (the Kelvin
/// sign for <c>k</c>, ...) to that letter, so a folded literal is found wherever a rule, case-insensitive or not,
/// could match it.
/// </summary>
public static class CaseFolding
{
    // Asked of the regex engine itself, so the table is right for the runtime in use: ~65k one-character matches
    // at start-up, a few milliseconds.
    private static readonly Lazy<Dictionary<char, char>> AsciiLookalikes = new(() =>
    {
        var anyLetter = new Regex("[a-z]", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        var lookalikes = new Dictionary<char, char>();
        Span<char> one = stackalloc char[1];
        for (var c = (char)0x80; c < char.MaxValue; c++)
        {
            one[0] = c;
            if (!anyLetter.IsMatch(one))
            {
                continue;
            }
            for (var letter = 'a'; letter <= 'z'; letter++)
            {
                if (Regex.IsMatch(c.ToString(), Regex.Escape(letter.ToString()), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant))
                {
                    lookalikes[c] = letter;
                }
            }
        }
        return lookalikes;
    });

    /// <summary>Non-ASCII characters that some case-insensitive ASCII letter matches, with that letter.</summary>
    public static IReadOnlyDictionary<char, char> Lookalikes => AsciiLookalikes.Value;

    /// <summary>A pattern character's folded form, or null when it is not ASCII (not used as a literal).</summary>
    public static char? Fold(char c) => char.IsAscii(c) ? char.ToLowerInvariant(c) : null;

    /// <summary>Folds <paramref name="text"/> into <paramref name="destination"/> (of the same length).</summary>
    public static void Fold(ReadOnlySpan<char> text, Span<char> destination)
    {
        var lookalikes = AsciiLookalikes.Value;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            destination[i] = char.IsAscii(c) ? char.ToLowerInvariant(c) : lookalikes.TryGetValue(c, out var letter) ? letter : c;
        }
    }
}
