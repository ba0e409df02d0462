using System.Net;
using System.Text.RegularExpressions;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed partial class TokenTests(AdminApp app)
{
    [Fact]
    public async Task ACreatedTokenIsShownOnceAndOnlyItsHashIsStored()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var response = await client.PostFormAsync($"/stores/{store.StoreId}/tokens/new", new()
        {
            ["Input.Name"] = "Checkout",
            ["Input.AllowedOrigins"] = "https://shop.example.com\nhttps://www.shop.example.com/",
            ["Input.RateLimitPerMinute"] = "500",
            ["Input.RateLimitPerIpPerMinute"] = "50",
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        var html = await response.Content.ReadAsStringAsync();
        var token = SecretOf(html);
        Assert.StartsWith("bk_live_", token);

        await using var db = app.Backends.CreateDbContext();
        var saved = await db.AccessTokens.SingleAsync(t => t.StoreId == store.StoreId && t.Name == "Checkout");
        Assert.Equal(TokenHasher.Hash(token), saved.TokenHash);
        Assert.Equal(["https://shop.example.com", "https://www.shop.example.com"], saved.AllowedOrigins);
        Assert.Equal(500, saved.RateLimitPerMinute);
        Assert.Equal(50, saved.RateLimitPerIpPerMinute);

        var list = await client.GetStringAsync($"/stores/{store.StoreId}/tokens");
        Assert.Contains(saved.DisplayPrefix, list);
        Assert.DoesNotContain(token, list);
    }

    [Fact]
    public async Task TokensWithSomethingOtherThanOriginsAreRefused()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var response = await client.PostFormAsync($"/stores/{store.StoreId}/tokens/new", new()
        {
            ["Input.Name"] = "Bad",
            ["Input.AllowedOrigins"] = "https://shop.example.com/checkout",
        });
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("Not an origin", html);
        await using var db = app.Backends.CreateDbContext();
        Assert.False(await db.AccessTokens.AnyAsync(t => t.StoreId == store.StoreId && t.Name == "Bad"));
    }

    [Fact]
    public async Task RevokingATokenAnnouncesItsHashToIngestionWithinASecond()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);

        var response = await client.PostFormAsync($"/stores/{store.StoreId}/tokens?handler=Revoke&tokenId={store.TokenId}", new());
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);

        var took = await channel.WaitForAsync(new ConfigChange.Token(TokenHasher.Hash(store.Token)), TimeSpan.FromSeconds(1));
        Assert.True(took < TimeSpan.FromSeconds(1));
        await using var db = app.Backends.CreateDbContext();
        var token = await db.AccessTokens.SingleAsync(t => t.Id == store.TokenId);
        Assert.True(token.Revoked);
        Assert.NotNull(token.RevokedAt);
        Assert.Contains("revoked", await client.GetStringAsync($"/stores/{store.StoreId}/tokens"));
    }

    /// <summary>The show-once secret of a page (HTML-decoded: base64 has '+' and '/').</summary>
    public static string SecretOf(string html) => WebUtility.HtmlDecode(SecretValue().Match(html).Groups[1].Value);

    [GeneratedRegex("<code class=\"secret-value\" id=\"secret-value\">([^<]+)</code>")]
    private static partial Regex SecretValue();
}
