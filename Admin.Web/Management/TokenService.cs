using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Management;

public sealed record TokenInput(string Name, IReadOnlyList<string> AllowedOrigins, int? RateLimitPerMinute, int? RateLimitPerIpPerMinute);

/// <summary>A token just created: <see cref="Token"/> is the only time the plain text exists outside the browser.</summary>
public sealed record CreatedToken(AccessToken Entity, string Token);

/// <summary>Store access tokens: created with their plain text shown once, listed by prefix, revoked everywhere within a second.</summary>
public sealed class TokenService(BeaconDbContext db, ChangeNotifier notifier, IOptions<AdminOptions> options, ILogger<TokenService> logger)
{
    public const string TokenPrefix = "bk_live_";

    public Task<List<AccessToken>> ListAsync(Guid storeId, CancellationToken cancellationToken) =>
        db.AccessTokens.AsNoTracking().Where(t => t.StoreId == storeId)
            .OrderBy(t => t.Revoked).ThenByDescending(t => t.CreatedAt).ToListAsync(cancellationToken);

    public Task<AccessToken?> FindAsync(Guid storeId, Guid tokenId, CancellationToken cancellationToken) =>
        db.AccessTokens.AsNoTracking().FirstOrDefaultAsync(t => t.Id == tokenId && t.StoreId == storeId, cancellationToken);

    public static Dictionary<string, string[]> Validate(TokenInput input)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(input.Name) || input.Name.Length > 200)
        {
            errors["name"] = ["Give the token a name of 1 to 200 characters."];
        }
        var badOrigins = input.AllowedOrigins.Where(o => !IsOrigin(o)).ToList();
        if (badOrigins.Count > 0)
        {
            errors["allowedOrigins"] = [$"Not an origin (scheme://host[:port], no path): {string.Join(", ", badOrigins)}"];
        }
        if (input.RateLimitPerMinute is <= 0 || input.RateLimitPerIpPerMinute is <= 0)
        {
            errors["rateLimit"] = ["Rate limits are positive numbers of requests per minute (leave empty for the default)."];
        }
        return errors;
    }

    /// <exception cref="StoreQuotaExceededException">The store has <see cref="AdminOptions.MaxTokensPerStore"/> active tokens already.</exception>
    public async Task<CreatedToken> CreateAsync(Guid storeId, TokenInput input, CancellationToken cancellationToken)
    {
        var token = TokenHasher.NewToken(TokenPrefix);
        var entity = new AccessToken
        {
            StoreId = storeId,
            Name = input.Name.Trim(),
            TokenHash = TokenHasher.Hash(token),
            DisplayPrefix = TokenHasher.DisplayPrefix(token),
            AllowedOrigins = input.AllowedOrigins.Select(o => o.TrimEnd('/')).Distinct().ToList(),
            RateLimitPerMinute = input.RateLimitPerMinute,
            RateLimitPerIpPerMinute = input.RateLimitPerIpPerMinute,
        };
        // Revoked tokens do not count: replacing a leaked token must always be possible.
        await db.AddWithinQuotaAsync(storeId, entity, db.AccessTokens.Where(t => t.StoreId == storeId && !t.Revoked),
            options.Value.MaxTokensPerStore, "active tokens", cancellationToken);
        await notifier.TokenChangedAsync(storeId, entity.TokenHash, cancellationToken);
        logger.LogInformation("Created token {Prefix} for store {StoreId}", entity.DisplayPrefix, storeId);
        return new CreatedToken(entity, token);
    }

    /// <summary>Revokes a token of the store; false when the store has no such token.</summary>
    public async Task<bool> RevokeAsync(Guid storeId, Guid tokenId, CancellationToken cancellationToken)
    {
        var token = await db.AccessTokens.FirstOrDefaultAsync(t => t.Id == tokenId && t.StoreId == storeId, cancellationToken);
        if (token is null)
        {
            return false;
        }
        if (!token.Revoked)
        {
            token.Revoked = true;
            token.RevokedAt = DateTimeOffset.UtcNow;
            await db.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Revoked token {Prefix} of store {StoreId}", token.DisplayPrefix, storeId);
        }
        // Announced even when already revoked: a repeated click re-sends the eviction, which is harmless.
        await notifier.TokenChangedAsync(storeId, token.TokenHash, cancellationToken);
        return true;
    }

    /// <summary>Deletes a token of the store; ingestion refuses it within a second, as after a revoke.</summary>
    public async Task<bool> DeleteAsync(Guid storeId, Guid tokenId, CancellationToken cancellationToken)
    {
        var token = await db.AccessTokens.FirstOrDefaultAsync(t => t.Id == tokenId && t.StoreId == storeId, cancellationToken);
        if (token is null)
        {
            return false;
        }
        db.AccessTokens.Remove(token);
        await db.SaveChangesAsync(cancellationToken);
        await notifier.TokenChangedAsync(storeId, token.TokenHash, cancellationToken);
        logger.LogInformation("Deleted token {Prefix} of store {StoreId}", token.DisplayPrefix, storeId);
        return true;
    }

    /// <summary>Splits the text of an origins box (one per line, or separated by commas or spaces).</summary>
    public static List<string> ParseOrigins(string? text) =>
        (text ?? "").Split(['\n', '\r', ',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static bool IsOrigin(string value) =>
        Uri.TryCreate(value.TrimEnd('/'), UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https"
        && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment)
        && string.IsNullOrEmpty(uri.UserInfo);
}
