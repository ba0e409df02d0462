using System.Net;
using System.Text.Json;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Beacon.Bench;

/// <summary>A fast local webhook receiver: answers 200 and counts the events and the distinct event ids it got.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HashSet<ulong> _ids = [];
    private long _events;

    private WebhookReceiver(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}/hook";
    }

    public string Url { get; }

    public long Events => Interlocked.Read(ref _events);

    public long DistinctEvents
    {
        get
        {
            lock (_ids)
            {
                return _ids.Count;
            }
        }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, port);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var json = await JsonDocument.ParseAsync(context.Request.Body);
        var events = json.RootElement.GetProperty("events");
        var hashes = new ulong[events.GetArrayLength()];
        var n = 0;
        foreach (var e in events.EnumerateArray())
        {
            hashes[n++] = e.TryGetProperty("event_id", out var id) ? Fnv1a(id.GetString() ?? "") : 0;
        }
        lock (_ids)
        {
            _ids.UnionWith(hashes);
        }
        Interlocked.Add(ref _events, n);
        context.Response.StatusCode = 200;
    }

    // 64-bit FNV-1a: ids are counted, not kept (a million strings would weigh on the machine being measured).
    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
