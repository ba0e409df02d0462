using System.Net;
using System.Text.RegularExpressions;
using Beacon.Admin.Seeding;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed partial class AccountTests(AdminApp app)
{
    [Fact]
    public async Task TheBootstrapOperatorCanSignInAndSeesEveryStore()
    {
        var store = await app.Backends.CreateStoreAsync();
        var client = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        Assert.Contains(store.StoreId.ToString(), await client.GetStringAsync("/stores"));
    }

    [Fact]
    public async Task FiveWrongPasswordsLockTheAccountEvenAgainstTheRightOne()
    {
        var user = await app.CreateUserAsync();
        var client = app.Anonymous();
        for (var i = 0; i < 5; i++)
        {
            var wrong = await client.PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = "not-the-password" });
            Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
        }
        var right = await client.PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Contains("locked", await right.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnInvitedMerchantSetsAPasswordWithAOneTimeLinkAndSeesTheStore()
    {
        var store = await app.Backends.CreateStoreAsync();
        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        var email = $"invited-{Guid.NewGuid():N}@shop.test";

        var invited = await operatorClient.PostFormAsync($"/stores/{store.StoreId}/members?handler=Invite", new() { ["Email"] = email });
        var html = await invited.Content.ReadAsStringAsync();
        var link = WebUtility.HtmlDecode(InviteLink().Match(html).Groups[1].Value);
        Assert.StartsWith("https://localhost/account/accept-invitation?", link);
        var path = new Uri(link).PathAndQuery;

        var merchant = app.Anonymous();
        Assert.Contains(email, await merchant.GetStringAsync(path));
        var tooShort = await merchant.PostFormAsync(path, new() { ["Password"] = "short" }, path);
        Assert.Contains("at least 12 characters", await tooShort.Content.ReadAsStringAsync());

        var set = await merchant.PostFormAsync(path, new() { ["Password"] = "a long enough password" }, path);
        Assert.Equal(HttpStatusCode.Redirect, set.StatusCode);
        Assert.Contains(store.StoreId.ToString(), await merchant.GetStringAsync("/stores"));

        // The link is spent.
        var again = app.Anonymous();
        var reuse = await again.PostFormAsync(path, new() { ["Password"] = "another long password" }, "/account/login");
        Assert.Contains("already used or has expired", await reuse.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheInvitationPageShowsNothingWithoutAValidCode()
    {
        var store = await app.Backends.CreateStoreAsync();
        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        var email = $"invited-{Guid.NewGuid():N}@shop.test";
        var invited = await operatorClient.PostFormAsync($"/stores/{store.StoreId}/members?handler=Invite", new() { ["Email"] = email });
        var link = new Uri(WebUtility.HtmlDecode(InviteLink().Match(await invited.Content.ReadAsStringAsync()).Groups[1].Value));
        var query = System.Web.HttpUtility.ParseQueryString(link.Query);
        var userId = query["user"]!;
        var code = query["code"]!;

        var answers = new List<string>();
        foreach (var path in new[]
        {
            $"/account/accept-invitation?user={Uri.EscapeDataString(userId)}",
            $"/account/accept-invitation?user={Uri.EscapeDataString(userId)}&code=",
            $"/account/accept-invitation?user={Uri.EscapeDataString(userId)}&code={Uri.EscapeDataString(code[..^4] + "AAAA")}",
            $"/account/accept-invitation?user={Uri.EscapeDataString(Guid.NewGuid().ToString())}&code={Uri.EscapeDataString(code)}",
            "/account/accept-invitation",
        })
        {
            var response = await app.Anonymous().GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var html = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain(email, html);
            Assert.DoesNotContain("<form", html);
            Assert.Contains("already used or has expired", html);
            answers.Add(html);
        }
        // Known user with a bad code and unknown user alike: the same page.
        Assert.All(answers, answer => Assert.Equal(answers[0], answer));

        // A POST with a wrong code sets nothing and shows nothing either.
        var client = app.Anonymous();
        var forged = await client.PostFormAsync($"/account/accept-invitation?user={Uri.EscapeDataString(userId)}&code=forged",
            new() { ["Password"] = "a long enough password" }, "/account/login");
        Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        Assert.DoesNotContain(email, await forged.Content.ReadAsStringAsync());

        // The real link still works and shows the email.
        Assert.Contains(email, await app.Anonymous().GetStringAsync(link.PathAndQuery));
    }

    [Fact]
    public async Task InvitingAnExistingUserAddsThemWithoutANewPassword()
    {
        var store = await app.Backends.CreateStoreAsync();
        var user = await app.CreateUserAsync();
        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);

        var invited = await operatorClient.PostFormAsync($"/stores/{store.StoreId}/members?handler=Invite", new() { ["Email"] = user.Email! });
        var html = await invited.Content.ReadAsStringAsync();
        Assert.Contains("already has an account", html);
        Assert.DoesNotContain("accept-invitation", html);
        var client = await app.SignInAsync(user.Email!);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/stores/{store.StoreId}/tokens")).StatusCode);

        await operatorClient.PostFormAsync($"/stores/{store.StoreId}/members?handler=Remove&userId={user.Id}", new());
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"/stores/{store.StoreId}/tokens")).StatusCode);
    }

    [Fact]
    public async Task CreateOperatorMakesAnOperatorWithThePasswordFromStandardInput()
    {
        var email = $"ops-{Guid.NewGuid():N}@beacon.test";
        var output = new StringWriter();
        var exit = await CreateOperatorCommand.RunAsync(app.Factory.Services, email, new StringReader("typed on stdin 123\n"), output);
        Assert.True(exit == 0, output.ToString());

        var client = await app.SignInAsync(email, "typed on stdin 123");
        var apiKeys = await client.GetStringAsync("/account/api-keys");
        Assert.Contains("operator", apiKeys);

        var weak = await CreateOperatorCommand.RunAsync(app.Factory.Services, $"weak-{Guid.NewGuid():N}@beacon.test", new StringReader("short\n"), new StringWriter());
        Assert.Equal(1, weak);
    }

    [Fact]
    public async Task CreateOperatorRunsFromTheCommandLine()
    {
        var email = $"cli-{Guid.NewGuid():N}@beacon.test";
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Admin.Web.dll"), "create-operator", email])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ConnectionStrings__beacondb"] = app.Backends.PostgresConnectionString;
        start.Environment["ConnectionStrings__redis"] = app.Backends.RedisConnectionString;
        // Admin.Web's configuration: its commands run with the site's master key.
        start.Environment["Beacon__MasterKey"] = TestSecrets.MasterKeyBase64;
        start.Environment.Remove(CreateOperatorCommand.PasswordVariable);
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.StandardInput.WriteLineAsync("from the command line");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(process.ExitCode == 0, await output + await errors);
        Assert.Contains($"{email} is an operator.", await output);

        var client = await app.SignInAsync(email, "from the command line");
        Assert.Contains("operator", await client.GetStringAsync("/stores"));
    }

    [Fact]
    public async Task SigningOutEndsTheSession()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var response = await client.PostFormAsync("/account/logout", new());
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync($"/stores/{store.StoreId}/tokens")).StatusCode);
    }

    [Fact]
    public async Task ApiKeysAreCreatedInTheSiteShownOnceAndRevocable()
    {
        var (_, merchant, client) = await app.MerchantWithStoreAsync();
        var created = await client.PostFormAsync("/account/api-keys?handler=Create", new() { ["Name"] = "ci" });
        var key = TokenTests.SecretOf(await created.Content.ReadAsStringAsync());
        Assert.StartsWith("bk_admin_", key);
        Assert.Equal(HttpStatusCode.OK, (await app.ApiClient(key).GetAsync("/api/admin/v1/stores")).StatusCode);
        Assert.DoesNotContain(key, await client.GetStringAsync("/account/api-keys"));

        await using var scope = app.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var stored = await db.ApiKeys.SingleAsync(k => k.UserId == merchant.Id);
        await client.PostFormAsync($"/account/api-keys?handler=Revoke&keyId={stored.Id}", new());
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.ApiClient(key).GetAsync("/api/admin/v1/stores")).StatusCode);
    }

    [Fact]
    public async Task AnotherUsersApiKeyIsNotFoundAndStaysValid()
    {
        var (_, owner, _) = await app.MerchantWithStoreAsync();
        var key = await app.CreateApiKeyAsync(owner.Id);
        var keyId = await app.Data.WithDbAsync(db => db.ApiKeys.Where(k => k.UserId == owner.Id).Select(k => k.Id).SingleAsync());
        var (_, _, intruder) = await app.MerchantWithStoreAsync();

        var response = await intruder.PostFormAsync($"/account/api-keys?handler=Revoke&keyId={keyId}", new());
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain(keyId.ToString(), await intruder.GetStringAsync("/account/api-keys"));
        Assert.Equal(HttpStatusCode.OK, (await app.ApiClient(key).GetAsync("/api/admin/v1/stores")).StatusCode);
    }

    [GeneratedRegex("<code class=\"secret-value\" id=\"invite-link\">([^<]+)</code>")]
    private static partial Regex InviteLink();
}
