using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.Admin.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>Management API keys: owned by a user, carrying that user's rights, stored as SHA-256 only.</summary>
public sealed class ApiKeyService(BeaconDbContext db, ILogger<ApiKeyService> logger)
{
    public Task<List<ApiKey>> ListAsync(string userId, CancellationToken cancellationToken) =>
        db.ApiKeys.AsNoTracking().Where(k => k.UserId == userId)
            .OrderBy(k => k.Revoked).ThenByDescending(k => k.CreatedAt).ToListAsync(cancellationToken);

    /// <summary>Creates a key; the returned plain text is never stored nor shown again.</summary>
    public async Task<(ApiKey Key, string Plain)> CreateAsync(string userId, string name, CancellationToken cancellationToken)
    {
        var plain = TokenHasher.NewToken(ApiKeyAuthenticationHandler.KeyPrefix);
        var key = await RegisterAsync(userId, name, plain, cancellationToken);
        return (key, plain);
    }

    /// <summary>Registers a key whose plain text is given (the bootstrap key from configuration).</summary>
    public async Task<ApiKey> RegisterAsync(string userId, string name, string plain, CancellationToken cancellationToken)
    {
        var hash = TokenHasher.Hash(plain);
        var existing = await db.ApiKeys.FirstOrDefaultAsync(k => k.KeyHash == hash, cancellationToken);
        if (existing is not null)
        {
            return existing;
        }
        var key = new ApiKey
        {
            Name = name.Trim(),
            KeyHash = hash,
            DisplayPrefix = TokenHasher.DisplayPrefix(plain),
            UserId = userId,
        };
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Created API key {Prefix} for user {UserId}", key.DisplayPrefix, userId);
        return key;
    }

    public async Task<bool> RevokeAsync(string userId, Guid keyId, CancellationToken cancellationToken) =>
        await db.ApiKeys.Where(k => k.Id == keyId && k.UserId == userId)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.Revoked, true), cancellationToken) > 0;
}
