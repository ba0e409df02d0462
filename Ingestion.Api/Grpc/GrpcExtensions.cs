using Beacon.Core.Hosting;
using Beacon.Ingestion.Readiness;
using Beacon.Protos.V1;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Grpc;

/// <summary>Wiring of the gRPC door: <c>beacon.v1.EventIngest</c>, gRPC health, server reflection and HTTP/2 limits.</summary>
public static class GrpcExtensions
{
    public static void AddGrpcIngestion(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.Configure<GrpcIngestOptions>(builder.Configuration.GetSection(GrpcIngestOptions.Section));

        services.AddGrpc();
        services.AddOptions<GrpcServiceOptions>().Configure<IOptions<GrpcIngestOptions>>((grpc, options) =>
        {
            grpc.MaxReceiveMessageSize = options.Value.MaxMessageBytes;
            grpc.MaxSendMessageSize = options.Value.MaxMessageBytes;
        });

        // Configured under Grpc (not Kestrel:Limits:Http2) so every gRPC knob lives in one section.
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<GrpcIngestOptions>>((kestrel, options) =>
        {
            var http2 = kestrel.Limits.Http2;
            http2.KeepAlivePingDelay = options.Value.KeepAlivePingDelay;
            http2.KeepAlivePingTimeout = options.Value.KeepAlivePingTimeout;
            http2.MaxStreamsPerConnection = options.Value.MaxStreamsPerConnection;
            http2.HeaderTableSize = options.Value.HeaderTableSize;
            http2.MaxFrameSize = options.Value.MaxFrameSize;
            http2.MaxRequestHeaderFieldSize = options.Value.MaxRequestHeaderFieldSize;
        });

        // grpc.health.v1: "" reports every check (as /health does); the ingest service needs the queue and the warm-up,
        // not Postgres, since tokens are served from cache while Postgres is down (DESIGN §5).
        services.AddGrpcHealthChecks(health =>
            health.Services.Map(EventIngest.Descriptor.FullName, result => result.Name is "self" or HostingExtensions.RedisHealthCheckName or WarmUpHealthCheck.Name));
        services.AddGrpcReflection();
    }

    public static IEndpointRouteBuilder MapGrpcIngestion(this IEndpointRouteBuilder app)
    {
        app.MapGrpcService<EventIngestService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }
}
