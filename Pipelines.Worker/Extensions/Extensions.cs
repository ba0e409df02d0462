using Beacon.Core.Hosting;
using Beacon.Core.Delivery;
using Beacon.Worker.Archive;
using Beacon.Worker.Consuming;
using Beacon.Worker.Delivery;
using Beacon.Worker.Delivery.Postgres;
using Beacon.Worker.Delivery.Webhooks;
using Beacon.Worker.Retention;
using Beacon.Worker.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Beacon.Worker.Extensions;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();

        var services = builder.Services;
        services.Configure<WorkerOptions>(builder.Configuration.GetSection(WorkerOptions.Section));
        services.TryAddSingleton(TimeProvider.System);
        services.AddBeaconWebhooks(builder.Configuration);

        services.AddSingleton<WorkerMetrics>();
        services.AddSingleton<ConsumerIdentity>();
        services.AddSingleton<RetryPlanner>();
        services.AddSingleton<PipelineHealth>();
        services.AddSingleton<DeliveryStatsCollector>();
        services.AddSingleton<DeliveryOutcomes>();
        services.AddSingleton<EventsWriter>();
        services.AddSingleton<IPipelineDestination, WebhookDestination>();
        services.AddSingleton<IPipelineDestination, PostgresDestination>();
        services.AddSingleton<EntryQuarantine>();
        services.AddSingleton<DeletionDrops>();
        services.AddSingleton<EntryRouter>();
        services.AddSingleton<DayPartitioner>();

        // Batches in flight may take the whole 15 s delivery timeout, in the lanes and in the retry scheduler.
        services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(40));

        // Hosted services stop in reverse order: reading stops first, then replays, lanes, retries and the archive
        // finish their in-flight batches, then the last acks, attempts and stats are written.
        AddHosted<DeliveryStatsWriter>(services);
        AddHosted<AttemptLog>(services);
        AddHosted<ArchiveMaintainer>(services);
        AddHosted<PipelineCache>(services);
        AddHosted<StreamAcker>(services);
        AddHosted<ArchiveWriter>(services);
        AddHosted<PipelineLanes>(services);
        AddHosted<RetryScheduler>(services);
        AddHosted<ReplayRunner>(services);
        AddHosted<PartitionMaintainer>(services);
        AddHosted<RetentionSweeper>(services);
        AddHosted<StreamTrimmer>(services);
        AddHosted<StreamReclaimer>(services);
        AddHosted<StreamConsumer>(services);
    }

    private static void AddHosted<T>(IServiceCollection services) where T : class, IHostedService
    {
        services.AddSingleton<T>();
        services.AddHostedService(sp => sp.GetRequiredService<T>());
    }
}
