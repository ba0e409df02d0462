using System.Net;
using System.Text.RegularExpressions;
using Beacon.Admin.Security;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed partial class SecurityTests(AdminApp app)
{
    [Fact]
    public async Task EveryPageSendsTheSecurityHeadersAndHasNoInlineScriptOrStyle()
    {
        var (store, pipelineId, client) = await OperatorStoreAsync();
        foreach (var path in Pages(store, pipelineId))
        {
            var response = await client.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path} -> {response.StatusCode}");
            Assert.Equal(SecurityHeaders.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
            var html = await response.Content.ReadAsStringAsync();
            Assert.False(InlineScript().IsMatch(html), $"{path} has an inline script");
            Assert.False(InlineHandler().IsMatch(html), $"{path} has an inline event handler");
            Assert.False(StyleAttribute().IsMatch(html), $"{path} has a style attribute");
            Assert.DoesNotContain("<style", html);
            Assert.DoesNotContain("http://cdn", html);
            Assert.DoesNotContain("https://cdn", html);
        }
    }

    [Fact]
    public async Task EveryPostFormCarriesAnAntiforgeryToken()
    {
        var (store, pipelineId, client) = await OperatorStoreAsync();
        var forms = 0;
        foreach (var path in Pages(store, pipelineId).Append("/account/login"))
        {
            var html = await client.GetStringAsync(path);
            foreach (Match form in PostForm().Matches(html))
            {
                forms++;
                Assert.True(form.Value.Contains("__RequestVerificationToken"), $"A form on {path} has no antiforgery token");
            }
        }
        Assert.True(forms >= 10, $"Only {forms} forms seen");
    }

    [Fact]
    public async Task APostWithoutTheAntiforgeryTokenIsRefused()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var response = await client.PostAsync($"/stores/{store.StoreId}/tokens?handler=Revoke&tokenId={store.TokenId}",
            new FormUrlEncodedContent(new Dictionary<string, string>()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await using var db = app.Backends.CreateDbContext();
        Assert.False(db.AccessTokens.Single(t => t.Id == store.TokenId).Revoked);
    }

    [Fact]
    public async Task SessionAndAntiforgeryCookiesAreSecureHttpOnlyAndSameSite()
    {
        var client = app.Anonymous();
        var login = await client.GetAsync("/account/login");
        var antiforgery = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("beacon.af="));
        Assert.Contains("secure", antiforgery);
        Assert.Contains("httponly", antiforgery);
        Assert.Contains("samesite=strict", antiforgery);

        var merchant = await app.CreateUserAsync();
        var token = await client.AntiforgeryTokenAsync("/account/login");
        var signIn = await client.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Email"] = merchant.Email!, ["Password"] = AdminApp.Password, ["__RequestVerificationToken"] = token,
        }));
        var session = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("beacon.auth="));
        Assert.Contains("secure", session);
        Assert.Contains("httponly", session);
        Assert.Contains("samesite=lax", session);
    }

    [Fact]
    public async Task ALoginReturnUrlCannotLeaveTheSite()
    {
        var merchant = await app.CreateUserAsync();
        var client = app.Anonymous();
        var response = await client.PostFormAsync("/account/login?ReturnUrl=https%3A%2F%2Fevil.example%2F",
            new() { ["Email"] = merchant.Email!, ["Password"] = AdminApp.Password });
        Assert.Equal("/stores", response.Headers.Location!.OriginalString);
    }

    private async Task<(Guid Store, Guid Pipeline, HttpClient Client)> OperatorStoreAsync()
    {
        var store = await app.Backends.CreateStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        await app.CreateDeadLetterAsync(pipeline);
        return (store.StoreId, pipeline.Id, await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword));
    }

    private static IEnumerable<string> Pages(Guid store, Guid pipeline) =>
    [
        "/stores", "/stores/new", $"/stores/{store}", $"/stores/{store}/members", $"/stores/{store}/tokens", $"/stores/{store}/tokens/new",
        $"/stores/{store}/pipelines", $"/stores/{store}/pipelines/new", $"/stores/{store}/pipelines/{pipeline}/edit",
        $"/stores/{store}/pipelines/{pipeline}/dead-letters", $"/stores/{store}/deliveries", $"/stores/{store}/events", $"/stores/{store}/events/dropped",
        "/event-types", "/account/api-keys", "/account/logout",
    ];

    [GeneratedRegex("<script(?![^>]*\\bsrc=)[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    [GeneratedRegex("<[^>]+\\son[a-z]+\\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();

    [GeneratedRegex("<[^>]+\\sstyle\\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex StyleAttribute();

    [GeneratedRegex("<form[^>]*method=\"post\"[^>]*>.*?</form>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex PostForm();
}
