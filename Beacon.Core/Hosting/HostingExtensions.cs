using Beacon.Core.Data;
using Beacon.Core.Queue;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Core.Hosting;

/// <summary>
/// Client registrations for Beacon's two backing services, in the shape of Aspire's client integrations:
/// the connection string comes from <c>ConnectionStrings:beacondb</c> / <c>ConnectionStrings:redis</c>
/// and each adds its health check (tagged <c>ready</c>, served on <c>/health</c>).
/// </summary>
public static class HostingExtensions
{
    public const string PostgresName = "beacondb";
    public const string RedisName = "redis";

    public static IHostApplicationBuilder AddBeaconPostgres(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(PostgresName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{PostgresName} is not configured.");

        var dataSource = new NpgsqlDataSourceBuilder(connectionString) { Name = PostgresName }
            .EnableDynamicJson()
            .Build();
        builder.Services.AddSingleton(dataSource);
        builder.Services.AddDbContextPool<BeaconDbContext>(options => options
            .UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
            .UseSnakeCaseNamingConvention());
        builder.Services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: ["ready"]);
        return builder;
    }

    public static IHostApplicationBuilder AddBeaconRedis(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(RedisName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{RedisName} is not configured.");

        var options = ConfigurationOptions.Parse(connectionString);
        // Start even while Redis is down: requests answer 503 until it is back instead of the process dying.
        options.AbortOnConnectFail = false;
        // Replies are read on the .NET thread pool, where their continuations run anyway, instead of on the client's
        // own reader threads: one thread hand-off less per command. Every Redis call in Beacon is async, so nothing
        // blocks the pool the reads need. Ingestion needed 8-10% less CPU per event (docs/benchmarks-grpc.md).
        options.SocketManager = SocketManager.ThreadPool;
        builder.Services.AddSingleton<IConnectionMultiplexer>(provider =>
        {
            var redis = ConnectionMultiplexer.Connect(options);
            // A lost connection answers 503 / UNAVAILABLE until it is back: say so where operators look.
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger("Beacon.Redis");
            redis.ConnectionFailed += (_, e) =>
                logger.LogWarning(e.Exception, "Redis connection to {EndPoint} failed ({FailureType})", e.EndPoint, e.FailureType);
            redis.ConnectionRestored += (_, e) => logger.LogInformation("Redis connection to {EndPoint} restored", e.EndPoint);
            return redis;
        });
        builder.Services.Configure<QueueOptions>(builder.Configuration.GetSection(QueueOptions.Section));
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return builder;
    }
}

internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "Postgres is unreachable", ex);
        }
    }
}

internal sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "Redis is unreachable", ex);
        }
    }
}
