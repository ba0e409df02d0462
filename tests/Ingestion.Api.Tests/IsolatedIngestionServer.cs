using Beacon.TestHost;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// Ingestion.Api on real loopback sockets (Kestrel, as deployed) against a database and a Redis of its own
/// (<see cref="Backends.StartIsolatedAsync"/>), with its logs captured: for tests that lock the token table, close
/// sockets under a request, or count every key in Redis.
/// </summary>
public sealed class IsolatedIngestionServer : IAsyncDisposable
{
    private readonly ServiceFactory<Program> _factory;

    private IsolatedIngestionServer(ServiceFactory<Program> factory, Backends backends, LogCapture logs, Uri address)
    {
        _factory = factory;
        Backends = backends;
        Logs = logs;
        Address = address;
    }

    public Backends Backends { get; }
    public LogCapture Logs { get; }

    /// <summary>The HTTP/1.1 (JSON) endpoint.</summary>
    public Uri Address { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>Starts the service; it takes ownership of <paramref name="backends"/>' Redis.</summary>
    public static IsolatedIngestionServer Start(Backends backends)
    {
        var address = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        var logs = new LogCapture();
        var factory = new ServiceFactory<Program>(backends, new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = address.ToString(),
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
            // "received FIN": the sign that Kestrel saw a client close its socket.
            ["Logging:LogLevel:Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets"] = "Debug",
        }, logs);
        factory.UseKestrel();
        factory.StartServer();
        return new IsolatedIngestionServer(factory, backends, logs, address);
    }

    public HttpClient CreateClient() => new() { BaseAddress = Address };

    public async Task WaitUntilHealthyAsync()
    {
        using var http = CreateClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(await http.GetAsync("/health")).IsSuccessStatusCode)
        {
            Assert.True(DateTime.UtcNow < deadline, "/health did not say healthy within 60 s");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        await Backends.Redis.DisposeAsync();
    }
}
