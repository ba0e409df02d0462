using Beacon.TestHost;

namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>
/// Ingestion.Api on a real loopback socket, as a browser needs it, pointed at the shared Postgres and Redis.
/// </summary>
public sealed class IngestionServer : IAsyncDisposable
{
    private readonly ServiceFactory<Program> _factory;

    private IngestionServer(ServiceFactory<Program> factory, string baseUrl)
    {
        _factory = factory;
        BaseUrl = baseUrl;
    }

    /// <summary>e.g. <c>http://127.0.0.1:41234</c>: the endpoint a storefront passes to <c>Beacon.init</c>.</summary>
    public string BaseUrl { get; }

    public string SdkUrl => BaseUrl + "/sdk/beacon.js";

    public static IngestionServer Start(Backends backends)
    {
        var baseUrl = $"http://127.0.0.1:{FreePort.Next()}";
        // The configured endpoints replace the dev ports (5080/5081) that other processes on this machine may hold.
        var factory = new ServiceFactory<Program>(backends, new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = baseUrl,
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
        });
        factory.UseKestrel();
        factory.StartServer();
        return new IngestionServer(factory, baseUrl);
    }

    public HttpClient CreateClient() => new() { BaseAddress = new Uri(BaseUrl) };

    public ValueTask DisposeAsync() => _factory.DisposeAsync();
}
