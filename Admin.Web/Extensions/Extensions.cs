using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Beacon.Admin.Privacy;
using Beacon.Admin.Security;
using Beacon.Admin.Seeding;
using Beacon.Core.Data;
using Beacon.Core.DeadLetters;
using Beacon.Core.Quarantine;
using Beacon.Core.Delivery;
using Beacon.Core.Hosting;
using Beacon.Core.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.OutputCaching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Beacon.Admin.Extensions;

internal static class Extensions
{
    public const string DataProtectionRedisKey = "beacon:admin:dataprotection";

    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();

        var services = builder.Services;
        services.Configure<AdminOptions>(builder.Configuration.GetSection(AdminOptions.Section));
        services.AddHttpContextAccessor();
        services.AddProblemDetails();
        services.AddOpenApi();
        services.Configure<JsonOptions>(o => o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase);

        // Keys in Redis: cookies, antiforgery tokens and invitation links stay valid across instances and restarts.
        // Each key is sealed under the master key (registered by AddBeaconWebhooks) first, since ingestion shares that Redis.
        services.AddDataProtection().SetApplicationName("Beacon.Admin");
        services.AddOptions<KeyManagementOptions>().Configure<IConnectionMultiplexer, MasterKey>((options, redis, masterKey) =>
        {
            options.XmlRepository = new RedisXmlRepository(() => redis.GetDatabase(), DataProtectionRedisKey);
            options.XmlEncryptor = new MasterKeyXmlEncryptor(masterKey);
        });

        builder.AddAdminIdentity();
        builder.AddTrustedProxies();
        builder.AddAdminOutputCache();

        services.AddRazorPages(options =>
        {
            options.Conventions.AuthorizeFolder("/", AdminPolicies.StoreAccess);
            options.Conventions.AllowAnonymousToPage("/Account/Login");
            options.Conventions.AllowAnonymousToPage("/Account/AcceptInvitation");
            options.Conventions.AllowAnonymousToPage("/Error");
            options.Conventions.AuthorizePage("/Stores/Create", AdminPolicies.Operator);
            options.Conventions.AuthorizePage("/Members/Index", AdminPolicies.Operator);
            options.Conventions.AuthorizePage("/Quarantine/All", AdminPolicies.Operator);
            options.Conventions.AuthorizeFolder("/Users", AdminPolicies.Operator);
        });
        services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "beacon.af";
            options.Cookie.SecurePolicy = builder.CookieSecurePolicy();
            options.Cookie.SameSite = SameSiteMode.Strict;
        });

        services.AddScoped<ChangeNotifier>();
        services.AddHostedService<ConfigChangeSubscriber>();
        services.AddScoped<StoreService>();
        services.AddScoped<TokenService>();
        services.AddScoped<PipelineService>();
        services.AddScoped<MembershipService>();
        services.AddScoped<ApiKeyService>();
        services.AddScoped<DeliveryQueries>();
        services.AddScoped<DeadLetterQueries>();
        services.AddScoped<PipelineTester>();
        services.AddScoped<DeletionService>();
        services.AddScoped<UserAdministration>();
        services.AddScoped<DeletionSweeper>();
        services.AddScoped<DeletionNotices>();
        services.AddHostedService<DeletionRunner>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<DroppedEvents>();
        services.AddScoped<EventTraces>();
        services.AddScoped<ReplayService>();
        services.AddScoped<RecentDeliveries>();
        services.AddScoped<ArchivedEvents>();
        services.AddBeaconDeadLetters();
        services.AddBeaconQuarantine();
        services.AddBeaconWebhooks(builder.Configuration);
        services.AddScoped<AdminBootstrapper>();
        services.AddHostedService<AdminBootstrapService>();
    }

    private static void AddAdminIdentity(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddIdentity<BeaconUser, IdentityRole>(options =>
            {
                // Length over composition (NIST SP 800-63B): 12+ characters, no forced symbols or capitals.
                options.Password.RequiredLength = 12;
                options.Password.RequireNonAlphanumeric = false;
                options.Password.RequireUppercase = false;
                options.Password.RequireLowercase = false;
                options.Password.RequireDigit = false;
                options.Password.RequiredUniqueChars = 4;
                options.Lockout.MaxFailedAccessAttempts = 5;
                options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
                options.Lockout.AllowedForNewUsers = true;
                options.User.RequireUniqueEmail = true;
            })
            .AddEntityFrameworkStores<BeaconDbContext>()
            .AddDefaultTokenProviders()
            .AddClaimsPrincipalFactory<BeaconClaimsPrincipalFactory>();

        services.Replace(ServiceDescriptor.Scoped<ISecurityStampValidator, BeaconSecurityStampValidator>());
        services.AddOptions<SecurityStampValidatorOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<AdminOptions>>((o, admin) => o.ValidationInterval = admin.Value.PrincipalRevalidationInterval);

        services.AddOptions<DataProtectionTokenProviderOptions>()
            .Configure<Microsoft.Extensions.Options.IOptions<AdminOptions>>((o, admin) => o.TokenLifespan = admin.Value.InvitationLifetime);

        services.ConfigureApplicationCookie(options =>
        {
            options.Cookie.Name = "beacon.auth";
            options.Cookie.HttpOnly = true;
            options.Cookie.SecurePolicy = builder.CookieSecurePolicy();
            options.Cookie.SameSite = SameSiteMode.Lax;
            options.LoginPath = "/account/login";
            options.LogoutPath = "/account/logout";
            options.AccessDeniedPath = "/error/403";
            options.ExpireTimeSpan = TimeSpan.FromHours(8);
            options.SlidingExpiration = true;
            // A refused store is a 403 (rendered by the status-code page), not a redirect that looks like success.
            options.Events.OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
        });

        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddScoped<IAuthorizationHandler, StoreAccessHandler>();
        services.AddAuthorization(options => options.AddAdminPolicies(IdentityConstants.ApplicationScheme, ApiKeyAuthenticationHandler.SchemeName));
    }

    /// <summary>
    /// Forwarded headers only from <see cref="AdminOptions.TrustedProxies"/> (none by default, not even loopback), so a
    /// client cannot pick the IP the sign-in throttle counts it under.
    /// </summary>
    private static void AddTrustedProxies(this IHostApplicationBuilder builder)
    {
        var proxies = builder.Configuration.GetSection(AdminOptions.Section).Get<AdminOptions>()?.TrustedProxies ?? [];
        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            options.KnownProxies.Clear();
            options.KnownIPNetworks.Clear();
            foreach (var proxy in proxies)
            {
                options.KnownIPNetworks.Add(DestinationGuard.TryParseNetwork(proxy, out var network)
                    ? network
                    : throw new InvalidOperationException($"Admin:TrustedProxies entry '{proxy}' is neither an IP address nor a CIDR network."));
            }
        });
    }

    private static void AddAdminOutputCache(this IHostApplicationBuilder builder)
    {
        builder.Services.AddStackExchangeRedisOutputCache(options => options.InstanceName = "beacon:admin:pages:");
        // The same connection as everything else instead of a second one of the cache's own.
        builder.Services.AddOptions<RedisOutputCacheOptions>().Configure<IServiceProvider>((options, sp) =>
            options.ConnectionMultiplexerFactory = () => Task.FromResult(sp.GetRequiredService<IConnectionMultiplexer>()));
        builder.Services.AddOutputCache(options => options.AddAdminCachePolicies());
    }

    /// <summary>
    /// Cookies are Secure-only, and antiforgery then refuses plain-HTTP requests outright. <c>Admin:AllowHttp</c>
    /// (on in appsettings.Development.json) lets a developer use http://localhost; production stays HTTPS-only.
    /// </summary>
    private static CookieSecurePolicy CookieSecurePolicy(this IHostApplicationBuilder builder) =>
        builder.Configuration.GetValue<bool>("Admin:AllowHttp") ? Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest : Microsoft.AspNetCore.Http.CookieSecurePolicy.Always;

    /// <summary>The request pipeline, in the order that keeps it safe: authorization runs before the cache is read.</summary>
    public static WebApplication UseAdminPipeline(this WebApplication app)
    {
        app.UseForwardedHeaders();
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/Error");
            app.UseHsts();
        }
        app.UseStatusCodePagesWithReExecute("/error/{0}");
        app.UseSecurityHeaders();
        app.UseStaticFiles();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseOutputCache();
        return app;
    }
}
