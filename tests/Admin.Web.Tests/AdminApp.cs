using System.Net;
using System.Text.RegularExpressions;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Admin.Tests;

/// <summary>
/// One Admin.Web (through TestServer) on the shared Postgres and Redis for every functional test class of the
/// "Admin" collection. Tests isolate themselves by creating their own users and stores.
/// </summary>
public sealed class AdminApp : IAsyncLifetime
{
    public const string OperatorEmail = "root@beacon.test";
    public const string OperatorPassword = "operator-password-1";
    public const string BootstrapApiKey = "bk_admin_bootstrap_key_for_tests_0123456789";
    public const string Password = "merchant-password-1";

    public Backends Backends { get; private set; } = null!;
    public ServiceFactory<Program> Factory { get; private set; } = null!;

    public static Dictionary<string, string?> Settings => new()
    {
        ["Admin:BootstrapEmail"] = OperatorEmail,
        ["Admin:BootstrapPassword"] = OperatorPassword,
        ["Admin:BootstrapApiKey"] = BootstrapApiKey,
        ["Admin:SecretRotationOverlap"] = "02:00:00",
        // One quick retry for deletion notices (the standard schedule waits 5 s, then 5 min).
        ["Admin:DeletionNoticeRetrySchedule:0"] = "00:00:00.300",
        // No worker of these tests needs time to learn of a deletion before it runs.
        ["Admin:DeletionSettleDelay"] = "00:00:00",
        // The test receiver listens on loopback.
        ["Delivery:AllowPrivateDestinations"] = "true",
        ["Logging:LogLevel:Default"] = "Warning",
    };

    public async Task InitializeAsync()
    {
        Backends = await Backends.GetAsync();
        Factory = new PeerFactory(Backends, Settings);
        // Starts the host (and the bootstrap) now rather than inside the first test.
        _ = Factory.Services;
        await Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Factory.DisposeAsync();

    /// <summary>
    /// A client without a session; https so the Secure cookies are kept and sent back. Each client comes from an
    /// address of its own (<paramref name="peer"/>, else a random one), as the sign-in throttle counts per address.
    /// </summary>
    public HttpClient Anonymous(IPAddress? peer = null)
    {
        var client = Factory.CreateClient(new WebApplicationFactoryClientOptions
        {
            BaseAddress = new Uri("https://localhost"),
            AllowAutoRedirect = false,
        });
        client.DefaultRequestHeaders.Add(PeerFactory.PeerHeader, (peer ?? RandomPeer()).ToString());
        return client;
    }

    /// <summary>An address in 198.18.0.0/15 (benchmarking), unlikely to be picked twice by one test run.</summary>
    public static IPAddress RandomPeer() =>
        new([198, (byte)Random.Shared.Next(18, 20), (byte)Random.Shared.Next(256), (byte)Random.Shared.Next(1, 255)]);

    public async Task<BeaconUser> CreateUserAsync(string? email = null, bool isOperator = false, string password = Password)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<BeaconUser>>();
        var user = new BeaconUser
        {
            UserName = email ?? $"user-{Guid.NewGuid():N}@shop.test",
            Email = email ?? $"user-{Guid.NewGuid():N}@shop.test",
            EmailConfirmed = true,
            IsOperator = isOperator,
        };
        user.Email = user.UserName;
        var result = await users.CreateAsync(user, password);
        Assert.True(result.Succeeded, string.Join(" ", result.Errors.Select(e => e.Description)));
        return user;
    }

    /// <summary>
    /// A DbContext of the app's own registration. <c>Backends.CreateDbContext()</c> lacks Npgsql's dynamic JSON
    /// opt-in and cannot write or read <c>Pipeline.Settings</c> (jsonb), so pipelines go through this one.
    /// </summary>
    public async Task<T> WithDbAsync<T>(Func<BeaconDbContext, Task<T>> action)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<BeaconDbContext>());
    }

    public async Task AddMemberAsync(Guid storeId, string userId)
    {
        await using var db = Backends.CreateDbContext();
        db.StoreMembers.Add(new StoreMember { StoreId = storeId, UserId = userId });
        await db.SaveChangesAsync();
    }

    /// <summary>A store with a merchant member, signed in.</summary>
    public async Task<(TestStore Store, BeaconUser Merchant, HttpClient Client)> MerchantWithStoreAsync()
    {
        var store = await Backends.CreateStoreAsync();
        var merchant = await CreateUserAsync();
        await AddMemberAsync(store.StoreId, merchant.Id);
        return (store, merchant, await SignInAsync(merchant.Email!));
    }

    public async Task<HttpClient> SignInAsync(string email, string password = Password)
    {
        var client = Anonymous();
        var response = await client.PostFormAsync("/account/login", new() { ["Email"] = email, ["Password"] = password });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return client;
    }

    public async Task<string> CreateApiKeyAsync(string userId)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var (_, plain) = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().CreateAsync(userId, "test key", CancellationToken.None);
        return plain;
    }

    public HttpClient ApiClient(string key)
    {
        var client = Anonymous();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public Task<Pipeline> CreatePipelineAsync(Guid storeId, string kind = PipelineKinds.Webhook, string? url = "https://hooks.example.com/in", string? name = null) =>
        Data.CreatePipelineAsync(storeId, kind, url, name);

    public Task<DeadLetter> CreateDeadLetterAsync(Pipeline pipeline, string eventType = "page_view", int status = 410,
        string excerpt = "gone for good", DateTimeOffset? createdAt = null) =>
        Data.CreateDeadLetterAsync(pipeline, eventType, status, excerpt, createdAt);

    public AdminData Data => new(Factory.Services);
}

/// <summary>Admin.Web whose requests come from the address in <see cref="PeerHeader"/> (TestServer has no peer address).</summary>
public sealed class PeerFactory(Backends backends, IReadOnlyDictionary<string, string?> settings) : ServiceFactory<Program>(backends, settings)
{
    public const string PeerHeader = "X-Test-Peer";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services => services.AddSingleton<IStartupFilter>(new PeerFilter()));
    }

    private sealed class PeerFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (HttpContext context, RequestDelegate nextMiddleware) =>
            {
                if (IPAddress.TryParse(context.Request.Headers[PeerHeader].ToString(), out var peer))
                {
                    context.Connection.RemoteIpAddress = peer;
                }
                await nextMiddleware(context);
            });
            next(app);
        };
    }
}

[CollectionDefinition(Name)]
public sealed class AdminCollection : ICollectionFixture<AdminApp>
{
    public const string Name = "Admin";
}

public static partial class HttpClientExtensions
{
    /// <summary>Posts a form the way the browser does: with the antiforgery token of the client's session.</summary>
    public static async Task<HttpResponseMessage> PostFormAsync(this HttpClient client, string path, Dictionary<string, string> fields,
        string tokenPage = "/account/login")
    {
        var token = await client.AntiforgeryTokenAsync(tokenPage);
        var content = new FormUrlEncodedContent(fields.Append(new("__RequestVerificationToken", token)));
        return await client.PostAsync(path, content);
    }

    public static async Task<HttpResponseMessage> PostFormAsync(this HttpClient client, string path, IEnumerable<KeyValuePair<string, string>> fields,
        string tokenPage)
    {
        var token = await client.AntiforgeryTokenAsync(tokenPage);
        var content = new FormUrlEncodedContent(fields.Append(new("__RequestVerificationToken", token)));
        return await client.PostAsync(path, content);
    }

    public static async Task<string> AntiforgeryTokenAsync(this HttpClient client, string path)
    {
        var html = await client.GetStringAsync(path);
        var match = TokenInput().Match(html);
        Assert.True(match.Success, $"No antiforgery token on {path}");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenInput();
}
