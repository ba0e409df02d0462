using System.Collections.Concurrent;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>
/// Ingestion.Api on a real loopback socket, as a browser needs it, pointed at the shared Postgres and Redis.
/// It records every request it answered, so a test can see what the server did also where CORS hides it
/// from the page (and from Playwright).
/// </summary>
public sealed class IngestionServer : IAsyncDisposable
{
    private readonly RecordingFactory _factory;

    private IngestionServer(RecordingFactory factory, string baseUrl)
    {
        _factory = factory;
        BaseUrl = baseUrl;
    }

    /// <summary>e.g. <c>http://127.0.0.1:41234</c>: the endpoint a storefront passes to <c>Beacon.init</c>.</summary>
    public string BaseUrl { get; }

    public string SdkUrl => BaseUrl + "/sdk/beacon.js";

    /// <summary>The <c>POST /beacon</c> requests answered so far that carried this token (header or query).</summary>
    public IReadOnlyList<AnsweredRequest> BeaconPostsWith(string token) =>
        _factory.Answered.Where(a => a.IsBeaconPost && a.Token == token).ToList();

    public static IngestionServer Start(Backends backends)
    {
        var baseUrl = $"http://127.0.0.1:{FreePort.Next()}";
        // The configured endpoints replace the dev ports (5080/5081) that other processes on this machine may hold.
        var factory = new RecordingFactory(backends, new Dictionary<string, string?>
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

    private sealed class RecordingFactory(Backends backends, IReadOnlyDictionary<string, string?> settings)
        : ServiceFactory<Program>(backends, settings)
    {
        public ConcurrentQueue<AnsweredRequest> Answered { get; } = new();

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureServices(services => services.AddSingleton<IStartupFilter>(new RecordingStartupFilter(Answered)));
        }
    }

    // Runs first in the app's pipeline and records each request once the app has answered it.
    private sealed class RecordingStartupFilter(ConcurrentQueue<AnsweredRequest> answered) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                await nextMiddleware(context);
                var request = context.Request;
                var response = context.Response;
                answered.Enqueue(new AnsweredRequest(
                    request.Method,
                    request.Path.Value ?? "",
                    request.QueryString.Value ?? "",
                    request.ContentType,
                    request.ContentLength,
                    request.Headers["X-Storefront-Access-Token"].FirstOrDefault() ?? request.Query["token"].FirstOrDefault(),
                    request.Headers.Origin.FirstOrDefault(),
                    response.StatusCode,
                    response.Headers.AccessControlAllowOrigin.FirstOrDefault(),
                    response.Headers.AccessControlAllowCredentials.FirstOrDefault()));
            });
            next(app);
        };
    }
}

/// <summary>A request Ingestion.Api answered, as the server saw it.</summary>
public sealed record AnsweredRequest(
    string Method,
    string Path,
    string Query,
    string? ContentType,
    long? ContentLength,
    string? Token,
    string? Origin,
    int Status,
    string? AllowOrigin,
    string? AllowCredentials)
{
    public bool IsBeaconPost => Method == "POST" && Path == "/beacon";

    public bool HasQueryToken => Query.Contains("token=", StringComparison.Ordinal);
}
