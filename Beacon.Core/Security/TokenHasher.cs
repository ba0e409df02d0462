using System.Security.Cryptography;
using System.Text;

namespace Beacon.Core.Security;

/// <summary>Creates secrets (store tokens, API keys) and the SHA-256 hashes they are stored and looked up by.</summary>
public static class TokenHasher
{
    /// <summary>Lowercase hex SHA-256 of the UTF-8 token.</summary>
    public static string Hash(string token)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>A new random token such as <c>bk_live_3xY...</c> (32 random bytes, URL-safe).</summary>
    public static string NewToken(string prefix)
    {
        var bytes = RandomNumberGenerator.GetBytes(24);
        return prefix + Convert.ToBase64String(bytes).Replace('+', '-').Replace('/', '_').TrimEnd('=');
    }

    /// <summary>The part of a token shown in lists after creation.</summary>
    public static string DisplayPrefix(string token) => token.Length <= 12 ? token : token[..12];
}
