using Beacon.Ingestion.GrpcTests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>Tools (grpcurl, load balancers, Kubernetes probes) find and probe the service without the .proto.</summary>
public sealed class ServiceDiscoveryTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    [Fact]
    public async Task ServerReflectionListsTheEventIngestServiceAndItsProto()
    {
        var reflection = new ServerReflection.ServerReflectionClient(fixture.Server.Channel);
        using var call = reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "beacon.v1.EventIngest" });
        await call.RequestStream.CompleteAsync();
        var responses = await call.ResponseStream.ReadAllAsync().ToListAsync();

        Assert.Contains("beacon.v1.EventIngest", responses[0].ListServicesResponse.Service.Select(s => s.Name));
        var file = Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(responses[1].FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.Equal("beacon/v1/ingest.proto", file.Name);
        Assert.Equal(["Send", "Stream"], file.Service.Single().Method.Select(m => m.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("beacon.v1.EventIngest")]
    public async Task TheHealthServiceAnswersServingOnceWarmedUp(string service)
    {
        var health = new Health.HealthClient(fixture.Server.Channel);

        // Until the start-up warm-up is done the answer is NotServing (ReadinessTests): a probe retries.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        HealthCheckResponse response;
        while ((response = await health.CheckAsync(new HealthCheckRequest { Service = service })).Status != HealthCheckResponse.Types.ServingStatus.Serving
               && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }
}
