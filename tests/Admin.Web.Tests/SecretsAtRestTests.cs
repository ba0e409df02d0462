using System.Diagnostics;
using System.Net;
using System.Text;
using Beacon.Admin.Security;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Beacon.Admin.Tests;

/// <summary>What a leaked <c>pg_dump</c> or Redis dump shows: no webhook secret, token, key or password in plaintext.</summary>
[Collection(AdminCollection.Name)]
public sealed class SecretsAtRestTests(AdminApp app)
{
    private const string DataProtectionKey = "beacon:admin:dataprotection";

    [Fact]
    public async Task APgDumpHoldsNoWebhookSecretTokenApiKeyOrPassword()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var created = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/new", new()
        {
            ["Input.Name"] = "Orders",
            ["Input.Kind"] = PipelineKinds.Webhook,
            ["Input.Url"] = "https://hooks.example.com/orders",
            ["Input.Enabled"] = "true",
        });
        var firstSecret = TokenTests.SecretOf(await created.Content.ReadAsStringAsync());
        var pipeline = await app.Data.WithDbAsync(db => db.Pipelines.AsNoTracking().SingleAsync(p => p.StoreId == store.StoreId));
        var rotated = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Rotate", new());
        var secondSecret = TokenTests.SecretOf(await rotated.Content.ReadAsStringAsync());
        var tokenPage = await client.PostFormAsync($"/stores/{store.StoreId}/tokens/new", new() { ["Input.Name"] = "Checkout" });
        var token = TokenTests.SecretOf(await tokenPage.Content.ReadAsStringAsync());
        var apiKey = await app.CreateApiKeyAsync(merchant.Id);
        Assert.StartsWith(WebhookSecret.Prefix, firstSecret);
        Assert.StartsWith(WebhookSecret.Prefix, secondSecret);
        Assert.StartsWith("bk_live_", token);

        var dump = await app.Backends.Postgres.DumpAsync(app.Backends.Database);

        // The dump does carry this pipeline's row, with both secrets sealed.
        var row = await app.Data.PipelineAsync(pipeline.Id);
        Assert.Contains(row.Secret, dump);
        Assert.Contains(row.PreviousSecret!, dump);
        Assert.Equal(secondSecret, TestSecrets.Protector.Open(row.Secret));
        Assert.Equal(firstSecret, TestSecrets.Protector.Open(row.PreviousSecret!));
        Assert.DoesNotContain(WebhookSecret.Prefix, dump);
        foreach (var secret in new[] { firstSecret, secondSecret, token, apiKey, AdminApp.Password, AdminApp.OperatorPassword, AdminApp.BootstrapApiKey })
        {
            Assert.DoesNotContain(secret, dump);
        }
    }

    [Fact]
    public async Task ThePipelinesTableRefusesAPlaintextSecret()
    {
        var store = await app.Backends.CreateStoreAsync();
        var plaintext = new Pipeline { StoreId = store.StoreId, Name = "plain", Kind = PipelineKinds.Postgres, Secret = WebhookSecret.New() };
        var failure = await Assert.ThrowsAsync<DbUpdateException>(() => app.Data.WithDbAsync(async db =>
        {
            db.Pipelines.Add(plaintext);
            return await db.SaveChangesAsync();
        }));
        Assert.Contains(BeaconDbContext.SecretSealedConstraint, failure.InnerException?.Message);
    }

    [Fact]
    public async Task TheDataProtectionKeysInRedisAreSealedAndUselessWithoutTheMasterKey()
    {
        // Signing in writes a cookie and an antiforgery token, so the ring has its key.
        var (store, _, client) = await app.MerchantWithStoreAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/stores/{store.StoreId}")).StatusCode);

        var redis = await ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        await using var _ = redis;
        var keys = (await redis.GetDatabase().ListRangeAsync(DataProtectionKey)).Select(k => k.ToString()).ToList();
        Assert.NotEmpty(keys);
        foreach (var key in keys)
        {
            Assert.Contains("<encryptedSecret", key);
            Assert.Contains(typeof(MasterKeyXmlDecryptor).FullName!, key);
            Assert.DoesNotContain("<masterKey", key);
            Assert.DoesNotContain("<value>", key);
        }

        // Whoever reads Redis gets the ring but cannot use it: with the master key it protects, without it not.
        Assert.Equal("payload", ProtectorOnTheRing(redis, TestSecrets.MasterKeyBase64).Unprotect(
            ProtectorOnTheRing(redis, TestSecrets.MasterKeyBase64).Protect("payload")));
        Assert.ThrowsAny<Exception>(() => ProtectorOnTheRing(redis, MasterKey.Generate()).Protect("forged cookie"));
        Assert.ThrowsAny<Exception>(() => ProtectorOnTheRing(redis, masterKey: null).Protect("forged cookie"));
    }

    [Fact]
    public async Task WithoutAMasterKeyTheSiteDoesNotStart()
    {
        var settings = AdminApp.Settings;
        settings[MasterKey.ConfigurationKey] = "";
        await using var factory = new PeerFactory(app.Backends, settings);
        var failure = Assert.ThrowsAny<Exception>(() => factory.Services);
        Assert.Contains(MasterKey.ConfigurationKey, failure.ToString());
    }

    [Fact]
    public async Task NothingInRedisHoldsASecretInPlaintext()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var created = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/new", new()
        {
            ["Input.Name"] = "Orders",
            ["Input.Kind"] = PipelineKinds.Webhook,
            ["Input.Url"] = "https://hooks.example.com/orders",
            ["Input.Enabled"] = "true",
        });
        var secret = TokenTests.SecretOf(await created.Content.ReadAsStringAsync());
        var tokenPage = await client.PostFormAsync($"/stores/{store.StoreId}/tokens/new", new() { ["Input.Name"] = "Checkout" });
        var token = TokenTests.SecretOf(await tokenPage.Content.ReadAsStringAsync());
        var apiKey = await app.CreateApiKeyAsync(merchant.Id);
        // Pages that go through the output cache and the management API.
        await client.GetStringAsync($"/stores/{store.StoreId}");
        await client.GetStringAsync($"/stores/{store.StoreId}/pipelines");
        await app.ApiClient(apiKey).GetStringAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines");

        var redis = await ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString + ",allowAdmin=true");
        await using var _ = redis;
        var everything = await ReadEverythingAsync(redis);

        Assert.Contains(DataProtectionKey, everything);
        Assert.DoesNotContain("<masterKey", everything);
        Assert.DoesNotContain(WebhookSecret.Prefix, everything);
        foreach (var plaintext in new[] { secret, token, apiKey, AdminApp.Password, AdminApp.OperatorPassword, AdminApp.BootstrapApiKey })
        {
            Assert.DoesNotContain(plaintext, everything);
        }
    }

    [Fact]
    public async Task ADemotedOperatorLosesTheOperatorPagesWithinTheRevalidationInterval()
    {
        var interval = TimeSpan.FromSeconds(2);
        var settings = AdminApp.Settings;
        settings["Admin:PrincipalRevalidationInterval"] = interval.ToString();
        await using var factory = new PeerFactory(app.Backends, settings);
        var email = $"operator-{Guid.NewGuid():N}@beacon.test";
        var operatorUser = await CreateUserAsync(factory, email, isOperator: true);
        var client = await SignInAsync(factory, email);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/quarantine")).StatusCode);

        await WithUsersAsync(factory, async users =>
        {
            var user = await users.FindByIdAsync(operatorUser.Id);
            user!.IsOperator = false;
            Assert.True((await users.UpdateAsync(user)).Succeeded);
        });
        var demotedAt = Stopwatch.GetTimestamp();
        // Any request made once the interval has passed since the demotion finds the operator pages closed.
        await WaitUntilAsync(demotedAt, interval + TimeSpan.FromMilliseconds(250));
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/quarantine")).StatusCode);
        // Still signed in as the merchant it now is.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/stores")).StatusCode);
    }

    [Fact]
    public async Task ALockedOutUserIsSignedOutWithinTheRevalidationInterval()
    {
        var interval = TimeSpan.FromSeconds(2);
        var settings = AdminApp.Settings;
        settings["Admin:PrincipalRevalidationInterval"] = interval.ToString();
        await using var factory = new PeerFactory(app.Backends, settings);
        var email = $"merchant-{Guid.NewGuid():N}@shop.test";
        var merchant = await CreateUserAsync(factory, email, isOperator: false);
        var store = await app.Backends.CreateStoreAsync();
        await app.AddMemberAsync(store.StoreId, merchant.Id);
        var client = await SignInAsync(factory, email);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/stores/{store.StoreId}")).StatusCode);

        await WithUsersAsync(factory, async users =>
        {
            var user = await users.FindByIdAsync(merchant.Id);
            Assert.True((await users.SetLockoutEndDateAsync(user!, DateTimeOffset.UtcNow.AddHours(1))).Succeeded);
        });
        var lockedAt = Stopwatch.GetTimestamp();
        // The contract: any request made once the interval has passed since the lockout finds the user signed out (the
        // store page answers with the redirect to the sign-in page), however long the server then takes to answer.
        await WaitUntilAsync(lockedAt, interval + TimeSpan.FromMilliseconds(250));
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync($"/stores/{store.StoreId}")).StatusCode);
    }

    [Fact]
    public async Task ARemovedMembershipClosesTheStoreAtTheNextRequest()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/stores/{store.StoreId}")).StatusCode);

        await using (var db = app.Backends.CreateDbContext())
        {
            await db.StoreMembers.Where(m => m.StoreId == store.StoreId && m.UserId == merchant.Id).ExecuteDeleteAsync();
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"/stores/{store.StoreId}")).StatusCode);
    }

    private static IDataProtector ProtectorOnTheRing(IConnectionMultiplexer redis, string? masterKey)
    {
        var services = new ServiceCollection();
        if (masterKey is not null)
        {
            services.AddSingleton(new MasterKey(Convert.FromBase64String(masterKey)));
        }
        // Reads the ring only: a reader must not add a key of its own to the shared ring.
        services.AddDataProtection().SetApplicationName("Beacon.Admin").DisableAutomaticKeyGeneration();
        services.Configure<KeyManagementOptions>(o => o.XmlRepository = new RedisXmlRepository(() => redis.GetDatabase(), DataProtectionKey));
        return services.BuildServiceProvider().GetDataProtector("Beacon.SecretsAtRestTests");
    }

    /// <summary>Every key and every value of every key, whatever its type: what a Redis dump holds, uncompressed.</summary>
    private static async Task<string> ReadEverythingAsync(IConnectionMultiplexer redis)
    {
        var db = redis.GetDatabase();
        var text = new StringBuilder();
        foreach (var key in redis.GetServers().Single().Keys(pattern: "*"))
        {
            text.AppendLine(key.ToString());
            switch (await db.KeyTypeAsync(key))
            {
                case RedisType.String:
                    text.AppendLine(Encoding.UTF8.GetString((byte[])(await db.StringGetAsync(key))!));
                    break;
                case RedisType.List:
                    text.AppendJoin('\n', await db.ListRangeAsync(key)).AppendLine();
                    break;
                case RedisType.Hash:
                    text.AppendJoin('\n', (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}")).AppendLine();
                    break;
                case RedisType.Set:
                    text.AppendJoin('\n', await db.SetMembersAsync(key)).AppendLine();
                    break;
                case RedisType.SortedSet:
                    text.AppendJoin('\n', await db.SortedSetRangeByRankAsync(key)).AppendLine();
                    break;
                case RedisType.Stream:
                    foreach (var entry in await db.StreamRangeAsync(key))
                    {
                        text.AppendJoin('\n', entry.Values.Select(v => $"{v.Name}={Encoding.UTF8.GetString((byte[])v.Value!)}")).AppendLine();
                    }
                    break;
            }
        }
        return text.ToString();
    }

    private static async Task<BeaconUser> CreateUserAsync(PeerFactory factory, string email, bool isOperator)
    {
        var user = new BeaconUser { UserName = email, Email = email, EmailConfirmed = true, IsOperator = isOperator };
        await WithUsersAsync(factory, async users => Assert.True((await users.CreateAsync(user, AdminApp.Password)).Succeeded));
        return user;
    }

    private static async Task WithUsersAsync(PeerFactory factory, Func<UserManager<BeaconUser>, Task> action)
    {
        await using var scope = factory.Services.CreateAsyncScope();
        await action(scope.ServiceProvider.GetRequiredService<UserManager<BeaconUser>>());
    }

    private static async Task<HttpClient> SignInAsync(PeerFactory factory, string email)
    {
        var client = factory.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("https://localhost"), AllowAutoRedirect = false });
        client.DefaultRequestHeaders.Add(PeerFactory.PeerHeader, AdminApp.RandomPeer().ToString());
        var response = await client.PostFormAsync("/account/login", new() { ["Email"] = email, ["Password"] = AdminApp.Password });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return client;
    }

    private static async Task WaitUntilAsync(long since, TimeSpan elapsed)
    {
        var wait = elapsed - Stopwatch.GetElapsedTime(since);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
    }
}
