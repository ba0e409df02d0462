using System.Collections.Concurrent;
using System.Text.Json;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>
/// A tiny storefront on its own port, so its pages are a different origin than Ingestion.Api. It also hosts
/// <see cref="FakeCollector"/>s, reached as <c>localhost</c> while pages are served as <c>127.0.0.1</c>: to
/// the browser that is a third origin, so the SDK's requests to them are cross-origin like the real ones.
/// </summary>
public sealed class StorefrontServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _pages = new();
    private readonly ConcurrentDictionary<string, FakeCollector> _collectors = new();

    private StorefrontServer(WebApplication app, int port)
    {
        _app = app;
        Origin = $"http://127.0.0.1:{port}";
        CollectorOrigin = $"http://localhost:{port}";
    }

    /// <summary>The origin storefront pages are served from.</summary>
    public string Origin { get; }

    public string CollectorOrigin { get; }

    /// <summary>A page of the same origin to navigate to, as a shopper clicking a link would.</summary>
    public string NextPageUrl => Origin + "/next";

    public static async Task<StorefrontServer> StartAsync()
    {
        var port = FreePort.Next();
        // Empty: the test folder holds Ingestion.Api's appsettings.json, whose Kestrel ports are not ours.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.ListenLocalhost(port));
        builder.Services.AddRouting();
        var app = builder.Build();
        var server = new StorefrontServer(app, port);

        app.MapGet("/pages/{id}", (string id) => server._pages.TryGetValue(id, out var html)
            ? Results.Content(html, "text/html; charset=utf-8")
            : Results.NotFound());
        app.MapGet("/next", () => Results.Content(
            "<!doctype html><html><head><title>Next</title></head><body>Next page</body></html>", "text/html; charset=utf-8"));
        app.MapMethods("/collect/{id}/beacon", [HttpMethods.Options], (string id, HttpContext context) =>
            server._collectors.TryGetValue(id, out var collector) ? collector.Preflight(context) : Results.NotFound());
        app.MapPost("/collect/{id}/beacon", (string id, HttpContext context) =>
            server._collectors.TryGetValue(id, out var collector) ? collector.RecordAsync(context) : Task.FromResult(Results.NotFound()));

        await app.StartAsync();
        return server;
    }

    /// <summary>Serves <paramref name="html"/> and returns its URL.</summary>
    public string AddPage(string html)
    {
        var id = Guid.NewGuid().ToString("N");
        _pages[id] = html;
        return $"{Origin}/pages/{id}";
    }

    public FakeCollector AddCollector()
    {
        var id = Guid.NewGuid().ToString("N");
        var collector = new FakeCollector($"{CollectorOrigin}/collect/{id}");
        _collectors[id] = collector;
        return collector;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>
/// Stands in for <c>POST /beacon</c> to observe exactly what the SDK sends: every request is recorded and
/// answered with the next queued status (201 once none is queued), with the CORS headers Ingestion.Api sends.
/// </summary>
public sealed class FakeCollector(string endpoint)
{
    private readonly ConcurrentQueue<CollectedRequest> _requests = new();
    private readonly ConcurrentQueue<int> _answers = new();

    /// <summary>What a storefront passes to <c>Beacon.init</c> as <c>endpoint</c>.</summary>
    public string Endpoint { get; } = endpoint;

    public IReadOnlyList<CollectedRequest> Requests => _requests.ToList();

    /// <summary>How long each answer takes, e.g. to keep a request in flight while the page goes away.</summary>
    public TimeSpan AnswerDelay { get; set; }

    public IReadOnlyList<JsonElement> Events => _requests.SelectMany(r => r.Events).ToList();

    /// <summary>Answers the next requests with these statuses, in order.</summary>
    public void AnswerNext(params int[] statuses)
    {
        foreach (var status in statuses)
        {
            _answers.Enqueue(status);
        }
    }

    public async Task<IReadOnlyList<CollectedRequest>> WaitForEventsAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (Events.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        return Requests;
    }

    internal IResult Preflight(HttpContext context)
    {
        AllowOrigin(context);
        context.Response.Headers.AccessControlAllowMethods = "POST";
        context.Response.Headers.AccessControlAllowHeaders = context.Request.Headers.AccessControlRequestHeaders;
        return Results.NoContent();
    }

    internal async Task<IResult> RecordAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        var status = _answers.TryDequeue(out var answer) ? answer : StatusCodes.Status201Created;
        var request = context.Request;
        _requests.Enqueue(new CollectedRequest(
            ContentType: request.ContentType ?? "",
            HeaderToken: request.Headers["X-Storefront-Access-Token"].FirstOrDefault(),
            QueryToken: request.Query["token"].FirstOrDefault(),
            Origin: request.Headers.Origin.FirstOrDefault(),
            BodyBytes: System.Text.Encoding.UTF8.GetByteCount(body),
            Status: status,
            Events: ParseEvents(body)));
        if (AnswerDelay > TimeSpan.Zero)
        {
            await Task.Delay(AnswerDelay);
        }
        AllowOrigin(context);
        return Results.Json<object?>(null, statusCode: status);
    }

    private static void AllowOrigin(HttpContext context)
    {
        if (context.Request.Headers.Origin.FirstOrDefault() is { } origin)
        {
            context.Response.Headers.AccessControlAllowOrigin = origin;
            context.Response.Headers.AccessControlAllowCredentials = "true";
        }
    }

    private static IReadOnlyList<JsonElement> ParseEvents(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("events").EnumerateArray().Select(e => e.Clone()).ToList();
    }
}

/// <summary>One request the SDK made to a <see cref="FakeCollector"/>.</summary>
public sealed record CollectedRequest(
    string ContentType,
    string? HeaderToken,
    string? QueryToken,
    string? Origin,
    int BodyBytes,
    int Status,
    IReadOnlyList<JsonElement> Events)
{
    /// <summary>sendBeacon and the keepalive fallback: text/plain, token in the query, no custom header.</summary>
    public bool IsUnloadRequest => ContentType.StartsWith("text/plain", StringComparison.Ordinal) && HeaderToken is null;
}

public static class CollectedEventExtensions
{
    /// <summary>The <c>event_id</c> of an event as the SDK sent it.</summary>
    public static string? EventId(this JsonElement collectedEvent) => collectedEvent.GetProperty("event_id").GetString();
}
