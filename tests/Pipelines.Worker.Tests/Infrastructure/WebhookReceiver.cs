using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Beacon.Worker.Tests.Infrastructure;

/// <summary>A webhook the request that reached a <see cref="WebhookReceiver"/>.</summary>
public sealed record ReceivedWebhook(
    string Id, string Timestamp, string Signature, byte[] Body, IReadOnlyList<string> EventIds, DateTimeOffset ReceivedAt, string Path);

/// <summary>
/// A real HTTP receiver (Kestrel on 127.0.0.1) that records every request and answers with <see cref="Respond"/>
/// (200 unless told otherwise).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();

    private WebhookReceiver(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/hooks";

    /// <summary>Answers a request; the default accepts it with 200.</summary>
    public Func<HttpContext, ReceivedWebhook, Task> Respond { get; set; } = (context, _) =>
    {
        context.Response.StatusCode = 200;
        return Task.CompletedTask;
    };

    /// <summary>Every request that arrived, in order (also those answered with an error).</summary>
    public IReadOnlyList<ReceivedWebhook> Received => _received.ToArray();

    public IReadOnlyList<string> AcceptedEventIds => _accepted.ToArray();
    private readonly ConcurrentQueue<string> _accepted = new();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = Beacon.TestHost.FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        // The worker's appsettings.json is copied next to the tests; its Kestrel endpoints are not ours.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, port);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var bytes = body.ToArray();
        var ids = new List<string>();
        try
        {
            using var json = JsonDocument.Parse(bytes);
            if (json.RootElement.TryGetProperty("events", out var events))
            {
                ids.AddRange(events.EnumerateArray().Select(e => e.GetProperty("event_id").GetString()!));
            }
        }
        catch (JsonException)
        {
        }
        var received = new ReceivedWebhook(
            context.Request.Headers["webhook-id"].ToString(),
            context.Request.Headers["webhook-timestamp"].ToString(),
            context.Request.Headers["webhook-signature"].ToString(),
            bytes, ids, DateTimeOffset.UtcNow, context.Request.Path);
        _received.Enqueue(received);
        await Respond(context, received);
        if (context.Response.StatusCode is >= 200 and < 300)
        {
            foreach (var id in ids)
            {
                _accepted.Enqueue(id);
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, failing after <paramref name="timeout"/>.</summary>
    public Task WaitUntilAsync(Func<WebhookReceiver, bool> condition, TimeSpan timeout, string what) =>
        Eventually.WaitAsync(() => Task.FromResult(condition(this)), timeout, what);

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
