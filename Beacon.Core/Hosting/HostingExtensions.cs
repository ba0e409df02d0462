using Beacon.Core.Data;
using Beacon.Core.Queue;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Core.Hosting;

/// <summary>
/// Beacon's two backing services through Aspire's client integrations (connection string from
/// <c>ConnectionStrings:beacondb</c> / <c>ConnectionStrings:redis</c>, health checks on <c>/health</c>, telemetry),
/// configured for what Beacon needs of them.
/// </summary>
public static class HostingExtensions
{
    public const string PostgresName = "beacondb";
    public const string RedisName = "redis";

    /// <summary>The name Aspire's Redis client integration gives its health check.</summary>
    public const string RedisHealthCheckName = "StackExchange.Redis";

    public static IHostApplicationBuilder AddBeaconPostgres(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(PostgresName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{PostgresName} is not configured.");
        // One data source for EF Core and for the worker's COPY (its pool is shared by both; Pipeline.Settings is
        // dynamic JSON). Aspire's EF Core integration then adds the health check and telemetry to the context.
        builder.Services.AddSingleton(new NpgsqlDataSourceBuilder(connectionString) { Name = PostgresName }.EnableDynamicJson().Build());
        builder.Services.AddDbContextPool<BeaconDbContext>((services, options) => options
            .UseNpgsql(services.GetRequiredService<NpgsqlDataSource>(), npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
            .UseSnakeCaseNamingConvention());
        builder.EnrichNpgsqlDbContext<BeaconDbContext>(settings =>
        {
            // Dead letters and delivery outcomes use explicit transactions, which a retrying strategy refuses;
            // delivery has its own retry schedule.
            settings.DisableRetry = true;
        });
        return builder;
    }

    public static IHostApplicationBuilder AddBeaconRedis(this IHostApplicationBuilder builder)
    {
        builder.AddRedisClient(RedisName,
            // Every command of the ingest path would be profiled for a trace; the ingest path has its own metrics.
            settings => settings.DisableTracing = true,
            options =>
            {
                // Start even while Redis is down: requests answer 503 until it is back instead of the process dying.
                options.AbortOnConnectFail = false;
                // Replies are read on the .NET thread pool, where their continuations run anyway, instead of on the
                // client's own reader threads: one thread hand-off less per command (docs/benchmarks.md).
                options.SocketManager = SocketManager.ThreadPool;
            });
        builder.Services.AddHostedService<RedisConnectionLog>();
        builder.Services.Configure<QueueOptions>(builder.Configuration.GetSection(QueueOptions.Section));
        return builder;
    }
}

/// <summary>A lost connection answers 503 / UNAVAILABLE until it is back: say so where operators look.</summary>
internal sealed class RedisConnectionLog(IConnectionMultiplexer redis, ILogger<RedisConnectionLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed += OnFailed;
        redis.ConnectionRestored += OnRestored;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed -= OnFailed;
        redis.ConnectionRestored -= OnRestored;
        return Task.CompletedTask;
    }

    private void OnFailed(object? sender, ConnectionFailedEventArgs e) =>
        logger.LogWarning(e.Exception, "Redis connection to {EndPoint} failed ({FailureType})", e.EndPoint, e.FailureType);

    private void OnRestored(object? sender, ConnectionFailedEventArgs e) =>
        logger.LogInformation("Redis connection to {EndPoint} restored", e.EndPoint);
}
