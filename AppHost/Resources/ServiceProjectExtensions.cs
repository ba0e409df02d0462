using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Beacon.AppHost.Resources;

/// <summary>How the AppHost wires Beacon's own services.</summary>
internal static class ServiceProjectExtensions
{
    /// <summary>
    /// One of Beacon's services, started without a launch profile (so in Production unless told otherwise) and without
    /// the Kestrel endpoints of its appsettings.json: the AppHost gives every endpoint itself.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(name, options =>
        {
            options.ExcludeLaunchProfile = true;
            options.ExcludeKestrelEndpoints = true;
        });

    /// <summary>
    /// A Kestrel endpoint with its protocols (the gRPC port is HTTP/2 only). One instance listens on the port itself;
    /// replicas sit behind DCP's proxy on that port, each on a port of its own.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithKestrelEndpoint(
        this IResourceBuilder<ProjectResource> project, string name, int port, string protocols, int replicas)
    {
        var proxied = replicas > 1;
        project.WithHttpEndpoint(port: port, targetPort: proxied ? null : port, name: name, isProxied: proxied);
        var endpoint = project.GetEndpoint(name);
        return project.WithEnvironment(context =>
        {
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Url"] =
                ReferenceExpression.Create($"http://localhost:{endpoint.Property(EndpointProperty.TargetPort)}");
            context.EnvironmentVariables[$"Kestrel__Endpoints__{name}__Protocols"] = protocols;
        });
    }

    /// <summary>
    /// Passes the configuration sections a service reads (<c>Ingestion</c>, <c>Worker</c>, …), whether they reached
    /// the AppHost as environment variables or as <c>--Section:Key value</c> arguments, and nothing else: a service
    /// never sees another's secrets.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithConfigurationSections(
        this IResourceBuilder<ProjectResource> project, IConfiguration configuration, params string[] sections) =>
        project.WithEnvironment(context =>
        {
            foreach (var section in sections)
            {
                foreach (var (key, value) in configuration.GetSection(section).AsEnumerable())
                {
                    if (value is not null)
                    {
                        context.EnvironmentVariables[key.Replace(":", "__", StringComparison.Ordinal)] = value;
                    }
                }
            }
        });

    /// <summary>
    /// Redis (the queue) as the service's <c>ConnectionStrings__redis</c>, answering before the service starts: the
    /// AppHost's own Redis as the service's ACL user (<see cref="RedisUsers"/>), an existing server as given.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithQueue(
        this IResourceBuilder<ProjectResource> project, IResourceBuilder<IResourceWithConnectionString> redis, RedisUsers users, string service,
        int? partitions)
    {
        if (redis.Resource is ILocalRedis local)
        {
            // $CONFIG= : the client's handshake does not try CONFIG GET, which no service user may run.
            project.WithEnvironment($"ConnectionStrings__{redis.Resource.Name}", ReferenceExpression.Create(
                $"{local.Endpoints},user={RedisUsers.UserOf(service)},password={users.PasswordOf(service).Resource},$CONFIG="));
        }
        else
        {
            project.WithReference(redis);
        }
        project.WaitFor(redis);
        return partitions is { } count ? project.WithEnvironment("Queue__Partitions", count.ToString()) : project;
    }

    /// <summary>Production by default; Aspire's headless runs must not point telemetry at a dashboard that is not there.</summary>
    public static IResourceBuilder<ProjectResource> WithServiceDefaults(
        this IResourceBuilder<ProjectResource> project, AppHostSettings settings, IConfiguration configuration) =>
        project.WithEnvironment(context =>
        {
            context.EnvironmentVariables["ASPNETCORE_ENVIRONMENT"] = settings.ServiceEnvironment;
            context.EnvironmentVariables["DOTNET_ENVIRONMENT"] = settings.ServiceEnvironment;
            // Their console is captured by the AppHost (dashboard or headless console), not a terminal.
            context.EnvironmentVariables["Logging__Console__ColorBehavior"] = "Disabled";
            var configured = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
            if (settings.Headless)
            {
                // With no collector listening, every service would wait ~10 s at exit trying to flush its telemetry.
                context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
                context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_PROTOCOL");
                context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_HEADERS");
            }
            if (!string.IsNullOrEmpty(configured))
            {
                context.EnvironmentVariables["OTEL_EXPORTER_OTLP_ENDPOINT"] = configured;
            }
        });
}
