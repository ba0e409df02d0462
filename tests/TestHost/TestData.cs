using Beacon.Core.Data;
using Beacon.Core.Security;

namespace Beacon.TestHost;

/// <summary>A store of a test's own, with a token whose plain text the test knows.</summary>
public sealed record TestStore(Guid StoreId, string Token, Guid TokenId);

public static class TestData
{
    public static async Task<TestStore> CreateStoreAsync(
        this Backends backends,
        string? name = null,
        IEnumerable<string>? allowedOrigins = null,
        int? rateLimitPerMinute = null,
        int? rateLimitPerIpPerMinute = null)
    {
        await using var db = backends.CreateDbContext();
        var store = new Store { Name = name ?? $"store-{Guid.NewGuid():N}" };
        var token = TokenHasher.NewToken("bk_test_");
        var accessToken = new AccessToken
        {
            StoreId = store.Id,
            Name = "test token",
            TokenHash = TokenHasher.Hash(token),
            DisplayPrefix = TokenHasher.DisplayPrefix(token),
            AllowedOrigins = allowedOrigins?.ToList() ?? [],
            RateLimitPerMinute = rateLimitPerMinute,
            RateLimitPerIpPerMinute = rateLimitPerIpPerMinute,
        };
        db.Stores.Add(store);
        db.AccessTokens.Add(accessToken);
        await db.SaveChangesAsync();
        return new TestStore(store.Id, token, accessToken.Id);
    }
}
