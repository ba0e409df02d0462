using System.Collections.Concurrent;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Beacon.Admin.Tests;

/// <summary>A real HTTP destination on loopback that records what it receives and answers with a fixed status.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

    private readonly WebApplication _app;

    public ConcurrentQueue<Received> Requests { get; } = new();

    public int Status { get; set; } = 200;

    /// <summary>When set, the status of the n-th request (1-based) instead of <see cref="Status"/>.</summary>
    public Func<int, int>? StatusOf { get; set; }

    public string Answer { get; set; } = "{\"ok\":true,\"by\":\"test receiver\"}";

    /// <summary>The answer's Content-Type; none when null.</summary>
    public string? AnswerContentType { get; set; }

    public string Url { get; }

    private WebhookReceiver(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = FreePort.Next();
        // A content root of its own: the test output also holds Admin.Web's appsettings.json and its Kestrel endpoint.
        var root = Directory.CreateTempSubdirectory("beacon-receiver-").FullName;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = root, Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, $"http://127.0.0.1:{port}/hooks/beacon");
        app.MapPost("/hooks/{**rest}", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            receiver.Requests.Enqueue(new Received(context.Request.Path,
                context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body.ToArray()));
            context.Response.StatusCode = receiver.StatusOf is { } statusOf ? statusOf(receiver.Requests.Count) : receiver.Status;
            if (receiver.AnswerContentType is { } contentType)
            {
                context.Response.ContentType = contentType;
                context.Response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(receiver.Answer);
            }
            await context.Response.WriteAsync(receiver.Answer);
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
