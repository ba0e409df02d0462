using System.Collections.Concurrent;
using System.Text.Json;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Beacon.AppHost.Tests;

/// <summary>
/// A webhook destination on loopback that answers 200 and remembers every event id it was sent; it can go down
/// (its port refuses connections) and come back on the same address.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private WebApplication? _app;

    private WebhookReceiver(string url) => Url = url;

    public string Url { get; }
    public ConcurrentDictionary<string, int> EventIds { get; } = new();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver($"http://127.0.0.1:{FreePort.Next()}/hook");
        await receiver.ComeBackAsync();
        return receiver;
    }

    /// <summary>Stops listening: deliveries now meet a refused connection.</summary>
    public async Task GoDownAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.DisposeAsync();
        }
    }

    public async Task ComeBackAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(new Uri(Url).GetLeftPart(UriPartial.Authority));
        var app = builder.Build();
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            foreach (var e in body.RootElement.GetProperty("events").EnumerateArray())
            {
                EventIds.AddOrUpdate(e.GetProperty("event_id").GetString()!, 1, (_, n) => n + 1);
            }
            return Results.Ok();
        });
        await app.StartAsync();
        _app = app;
    }

    public ValueTask DisposeAsync() => new(GoDownAsync());
}
