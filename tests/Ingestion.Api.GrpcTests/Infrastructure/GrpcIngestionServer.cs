using Beacon.Protos.V1;
using Beacon.TestHost;
using Grpc.Core;
using Grpc.Net.Client;

namespace Beacon.Ingestion.GrpcTests.Infrastructure;

/// <summary>
/// Ingestion.Api on real loopback sockets, as the appsettings define them: an HTTP/1.1 port for JSON and an
/// HTTP/2-only (h2c) port for gRPC, reached with a real <see cref="GrpcChannel"/>.
/// </summary>
public sealed class GrpcIngestionServer : IAsyncDisposable
{
    private readonly ServiceFactory<Program> _factory;

    private GrpcIngestionServer(ServiceFactory<Program> factory, string jsonUrl, string grpcUrl)
    {
        _factory = factory;
        JsonUrl = jsonUrl;
        GrpcUrl = grpcUrl;
        Channel = GrpcChannel.ForAddress(grpcUrl);
    }

    public string JsonUrl { get; }
    public string GrpcUrl { get; }
    public GrpcChannel Channel { get; }
    public IServiceProvider Services => _factory.Services;

    public EventIngest.EventIngestClient Client => new(Channel);

    /// <param name="settings">Extra configuration, e.g. a Redis of the test's own.</param>
    /// <param name="logs">Sees what the service logs (levels per category in <paramref name="settings"/>).</param>
    public static GrpcIngestionServer Start(Backends backends, IReadOnlyDictionary<string, string?>? settings = null, LogCapture? logs = null)
    {
        var jsonUrl = $"http://127.0.0.1:{FreePort.Next()}";
        var grpcUrl = $"http://127.0.0.1:{FreePort.Next()}";
        // The configured endpoints replace the dev ports (5080/5081) that other processes on this machine may hold;
        // the protocols (Http1 / Http2 only) stay those of appsettings.json.
        var merged = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = jsonUrl,
            ["Kestrel:Endpoints:grpc:Url"] = grpcUrl,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            merged[key] = value;
        }
        var factory = new ServiceFactory<Program>(backends, merged, logs);
        factory.UseKestrel();
        factory.StartServer();
        return new GrpcIngestionServer(factory, jsonUrl, grpcUrl);
    }

    public static Metadata TokenMetadata(string token) => new() { { "x-storefront-access-token", token } };

    public HttpClient CreateJsonClient() => new() { BaseAddress = new Uri(JsonUrl) };

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _factory.DisposeAsync();
    }
}

/// <summary>xunit class fixture: one server per test class, on the shared Postgres and Redis.</summary>
public sealed class GrpcServerFixture : IAsyncLifetime
{
    public Backends Backends { get; private set; } = null!;
    public GrpcIngestionServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Backends = await Backends.GetAsync();
        Server = GrpcIngestionServer.Start(Backends);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
