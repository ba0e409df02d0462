using System.Collections.Concurrent;
using System.Text.Json;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Beacon.AppHost.Tests;

/// <summary>A webhook destination on loopback that answers 200 and remembers every event id it was sent.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookReceiver(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }
    public ConcurrentDictionary<string, int> EventIds { get; } = new();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var url = $"http://127.0.0.1:{FreePort.Next()}/hook";
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(new Uri(url).GetLeftPart(UriPartial.Authority));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, url);
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            foreach (var e in body.RootElement.GetProperty("events").EnumerateArray())
            {
                receiver.EventIds.AddOrUpdate(e.GetProperty("event_id").GetString()!, 1, (_, n) => n + 1);
            }
            return Results.Ok();
        });
        await app.StartAsync();
        return receiver;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
