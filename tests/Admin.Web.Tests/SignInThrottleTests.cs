using System.Net;
using System.Text.RegularExpressions;
using Beacon.Admin.Pages.Account;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed partial class SignInThrottleTests(AdminApp app)
{
    [Fact]
    public async Task TenFailedSignInsFromOneAddressAreThrottledForEveryAccountButNotForOtherAddresses()
    {
        var user = await app.CreateUserAsync();
        var client = app.Anonymous();
        for (var i = 0; i < 10; i++)
        {
            var failed = await client.PostFormAsync("/account/login", new() { ["Email"] = $"nobody-{i}@shop.test", ["Password"] = "guess-number-" + i });
            Assert.Equal(HttpStatusCode.OK, failed.StatusCode);
            Assert.Contains(LoginModel.FailureMessage, WebUtility.HtmlDecode(await failed.Content.ReadAsStringAsync()));
        }

        // The right password of a real account, from the same address: still refused, and the wait is stated.
        var throttled = await client.PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.InRange(int.Parse(throttled.Headers.GetValues("Retry-After").Single()), 1, 300);
        Assert.Contains("Too many failed sign-ins from your network", await throttled.Content.ReadAsStringAsync());

        // Another address is not affected, and the account was never locked by the other address's guesses.
        await app.SignInAsync(user.Email!);
    }

    [Fact]
    public async Task SuccessfulSignInsDoNotCountAgainstTheAddress()
    {
        var user = await app.CreateUserAsync();
        var peer = AdminApp.RandomPeer();
        for (var i = 0; i < 12; i++)
        {
            var client = app.Anonymous(peer);
            var response = await client.PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        }
    }

    [Fact]
    public async Task ParallelGuessesFromOneAddressCannotSlipPastTheLimit()
    {
        var client = app.Anonymous();
        var token = await client.AntiforgeryTokenAsync("/account/login");

        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => client.PostAsync("/account/login", new FormUrlEncodedContent(
            new Dictionary<string, string> { ["Email"] = $"parallel-{i}@shop.test", ["Password"] = "wrong password", ["__RequestVerificationToken"] = token }))));

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(20, responses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task EveryFailedSignInGetsTheSameAnswerWhetherTheAccountExistsIsLockedOrHasNoPassword()
    {
        var known = await app.CreateUserAsync();
        var locked = await app.CreateUserAsync();
        var invited = await CreateUserWithoutPasswordAsync();
        await using (var scope = app.Factory.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<BeaconUser>>();
            await users.SetLockoutEndDateAsync((await users.FindByIdAsync(locked.Id))!, DateTimeOffset.UtcNow.AddMinutes(10));
        }

        var answers = new List<string>();
        foreach (var (email, password) in new[]
        {
            ($"unknown-{Guid.NewGuid():N}@shop.test", "some password 1"),
            (known.Email!, "the wrong password"),
            (locked.Email!, AdminApp.Password),
            (invited, "any password at all"),
        })
        {
            var response = await app.Anonymous().PostFormAsync("/account/login", new() { ["Email"] = email, ["Password"] = password });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var html = await response.Content.ReadAsStringAsync();
            // The typed email and the antiforgery token differ by request; everything else must be the same.
            answers.Add(AntiforgeryValue().Replace(html.Replace(email, "EMAIL"), "TOKEN"));
        }

        Assert.Contains(LoginModel.FailureMessage, WebUtility.HtmlDecode(answers[0]));
        Assert.All(answers, answer => Assert.Equal(answers[0], answer));
    }

    private async Task<string> CreateUserWithoutPasswordAsync()
    {
        await using var scope = app.Factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<BeaconUser>>();
        var email = $"invited-{Guid.NewGuid():N}@shop.test";
        Assert.True((await users.CreateAsync(new BeaconUser { UserName = email, Email = email, EmailConfirmed = true })).Succeeded);
        return email;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"[^\"]+\"")]
    private static partial Regex AntiforgeryValue();
}
