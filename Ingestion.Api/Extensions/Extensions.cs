using Beacon.Core.Hosting;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Apis;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Ingestion.Readiness;
using Microsoft.AspNetCore.OutputCaching.StackExchangeRedis;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Extensions;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();

        var services = builder.Services;
        services.AddOptions<IngestionOptions>()
            .Bind(builder.Configuration.GetSection(IngestionOptions.Section))
            // The enqueue script passes a batch's events to one XADD: Lua's stack bounds it well above 1000.
            .Validate(o => o.MaxEventsPerBatch is >= 1 and <= 1000, "Ingestion:MaxEventsPerBatch must be between 1 and 1000.")
            .Validate(o => o.MaxBodyBytes > 0 && o.DedupWindow > TimeSpan.Zero && o.RateLimit.Window > TimeSpan.Zero,
                "Ingestion:MaxBodyBytes, DedupWindow and RateLimit:Window must be positive.")
            .ValidateOnStart();

        // The ingestion path (Ingestion/) and its enrichment (Enrichment/): singletons, the hot path allocates no scopes.
        services.AddSingleton<TokenCache>();
        services.AddHostedService<ConfigChangeListener>();
        services.AddSingleton<ClientInfoReader>();
        services.AddSingleton<RateLimiter>();
        services.AddSingleton<Admitter>();
        services.AddSingleton<ReplicaAcks>();
        services.AddSingleton<EventQueue>();
        services.AddSingleton<DropLog>();
        services.AddSingleton<IngestionMetrics>();
        services.AddSingleton<UserAgentParser>();
        services.AddSingleton<GeoLocator>();
        services.AddSingleton<EventEnricher>();
        services.AddSingleton<IngestPath>();
        // Starts building the User-Agent rules now; the warm-up waits for them before /health says ready.
        UserAgentParser.Warm();
        services.AddSingleton<IngestionWarmUp>();
        services.AddHostedService(provider => provider.GetRequiredService<IngestionWarmUp>());
        services.AddHealthChecks().AddCheck<WarmUpHealthCheck>(WarmUpHealthCheck.Name, tags: ["ready"]);

        // A body that arrived stays readable when its client closed at once (DESIGN §3: abort-safe ingest).
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<IngestionOptions>>((kestrel, ingestion) =>
        {
            kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Use(HalfClosedConnections.KeepInputReadable));
            var options = ingestion.Value.Kestrel;
            var limits = kestrel.Limits;
            limits.MaxConcurrentConnections = options.MaxConcurrentConnections;
            limits.MaxConcurrentUpgradedConnections = options.MaxConcurrentUpgradedConnections;
            limits.MaxRequestHeaderCount = options.MaxRequestHeaderCount;
            limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersTotalSize;
            limits.MaxRequestLineSize = options.MaxRequestLineSize;
            limits.MinRequestBodyDataRate = new MinDataRate(options.MinRequestBodyBytesPerSecond, options.MinRequestBodyGracePeriod);
            limits.KeepAliveTimeout = options.KeepAliveTimeout;
            limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
        });

        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, IngestionJsonContext.Default);
            options.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
        });

        // GET /v1/event-types is cached in Redis, shared by every instance, on the same connection as the queue.
        services.AddStackExchangeRedisOutputCache(_ => { });
        services.AddOptions<RedisOutputCacheOptions>().Configure<IServiceProvider>((options, provider) =>
            options.ConnectionMultiplexerFactory = () => Task.FromResult(provider.GetRequiredService<IConnectionMultiplexer>()));
        services.AddOutputCache(options =>
            options.AddPolicy(EventTypesApi.CachePolicy, policy => policy.Expire(TimeSpan.FromMinutes(10)).Tag(EventTypesApi.CachePolicy)));

        services.AddOpenApi();
    }
}
