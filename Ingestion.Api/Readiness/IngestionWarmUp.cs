using System.Diagnostics;
using System.Net;
using System.Text;
using Beacon.Core.Security;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Apis;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Grpc;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using StackExchange.Redis;

namespace Beacon.Ingestion.Readiness;

/// <summary>
/// Warm before ready (DESIGN §3 Readiness): once the server listens, builds the User-Agent rules, asks the token store
/// and Redis, then sends a rehearsal batch through every door over loopback (<c>/beacon</c> and <c>/api/v1/events</c>
/// over HTTP/1.1, gRPC <c>Send</c> over HTTP/2), so that Kestrel, routing, the endpoints, the one ingestion path and its
/// Redis calls have all run, and been compiled, before the first real request. Until then
/// <see cref="WarmUpHealthCheck"/> keeps <c>/health</c> Unhealthy. A cold process took 2-4 s for its first request.
/// </summary>
/// <remarks>
/// The rehearsal token exists in this process only (<see cref="TokenCache.Admit"/>), for the few hundred milliseconds
/// of the rehearsal: its batches go to <see cref="EventQueue.RehearsalStream"/>, deleted afterwards, never to the queue
/// the workers read, and count in no metric (<see cref="StoreToken.Rehearsal"/>).
/// </remarks>
public sealed class IngestionWarmUp(
    Microsoft.AspNetCore.Hosting.Server.IServer server,
    IHostApplicationLifetime lifetime,
    UserAgentParser userAgents,
    TokenCache tokens,
    EventQueue queue,
    IConnectionMultiplexer redis,
    ILogger<IngestionWarmUp> logger) : BackgroundService
{
    private const string RehearsalUserAgent =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RoundTripTimeout = TimeSpan.FromSeconds(30);

    private volatile string? _pending = "waiting for the server to start";

    /// <summary>What the warm-up is doing or waiting for; null once it is done.</summary>
    public string? Pending => _pending;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ServerStartedAsync(stoppingToken);
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                await WarmUpAsync(stoppingToken);
                _pending = null;
                logger.LogInformation("Warmed up in {Milliseconds:N0} ms: ready to serve", Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                return;
            }
            // Anything a dependency that is not there yet can throw (TaskCanceledException: a round trip's timeout):
            // stay unready and try again.
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is TokenStoreUnavailableException or RedisException
                                           or TimeoutException or TaskCanceledException or HttpRequestException or RpcException or WarmUpException)
            {
                _pending = $"{_pending} failed: {ex.Message}";
                logger.LogWarning(ex, "Warm-up not done ({Pending}); trying again in {Delay}", _pending, RetryDelay);
            }
            await Task.Delay(RetryDelay, stoppingToken);
        }
    }

    /// <summary>A rehearsal request is no traffic: the doors call this so ASP.NET Core's request metrics leave it out too.</summary>
    public static void ExcludeFromMetrics(HttpContext context)
    {
        if (context.Features.Get<IHttpMetricsTagsFeature>() is { } metrics)
        {
            metrics.MetricsDisabled = true;
        }
    }

    private async Task ServerStartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await using var onStopping = stoppingToken.Register(() => started.TrySetCanceled(stoppingToken));
        await started.Task;
    }

    private async Task WarmUpAsync(CancellationToken stoppingToken)
    {
        _pending = "building the User-Agent rules";
        userAgents.Parse(RehearsalUserAgent);

        _pending = "asking the token store";
        await tokens.WarmUpAsync(stoppingToken);

        _pending = "asking Redis";
        await redis.GetDatabase().PingAsync();

        _pending = "rehearsing the doors";
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        if (addresses.Count == 0)
        {
            logger.LogInformation("The server has no address (an in-memory server): the doors are not rehearsed");
            return;
        }
        var token = TokenHasher.NewToken("bk_rehearsal_");
        var storeToken = new StoreToken(Guid.NewGuid(), Guid.NewGuid(), TokenHasher.Hash(token), [], null, null) { Rehearsal = true };
        tokens.Admit(token, storeToken);
        try
        {
            await RehearseDoorsAsync(addresses, token, stoppingToken);
        }
        finally
        {
            tokens.Withdraw(storeToken);
        }
        await queue.ForgetRehearsalAsync(storeToken.StoreId);
    }

    private async Task RehearseDoorsAsync(ICollection<string> addresses, string token, CancellationToken stoppingToken)
    {
        using var http = new HttpClient(LoopbackHandler()) { Timeout = RoundTripTimeout };
        var rehearsed = new List<string>(3);
        // An endpoint speaks HTTP/1.1 (JSON), HTTP/2 (gRPC) or both: each door is tried on each address until one answers.
        foreach (var address in addresses.Select(Loopback))
        {
            if (!rehearsed.Contains(BeaconApi.Path) && await SpeaksHttp1Async(http, address, stoppingToken))
            {
                await RehearseBeaconAsync(http, address, token, stoppingToken);
                await RehearseAlanaAsync(http, address, token, stoppingToken);
                rehearsed.Add(BeaconApi.Path);
                rehearsed.Add(AlanaEventsApi.Path);
            }
            if (!rehearsed.Contains(EventIngest.Descriptor.FullName) && await SpeaksHttp2Async(address, token, stoppingToken))
            {
                rehearsed.Add(EventIngest.Descriptor.FullName);
            }
        }
        if (rehearsed.Count == 0)
        {
            throw new WarmUpException($"No door answered on {string.Join(", ", addresses)}.");
        }
        logger.LogDebug("Rehearsed {Doors} on {Addresses}", rehearsed, addresses);
    }

    // An HTTP/2-only endpoint answers an HTTP/1.1 request with 400 whatever its path: ask the liveness probe first.
    private static async Task<bool> SpeaksHttp1Async(HttpClient http, Uri address, CancellationToken stoppingToken)
    {
        using var probe = new HttpRequestMessage(HttpMethod.Get, new Uri(address, "/alive"))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        try
        {
            using var response = await http.SendAsync(probe, stoppingToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task RehearseBeaconAsync(HttpClient http, Uri address, string token, CancellationToken stoppingToken)
    {
        // No event_id: the plain XADD; the other doors send ids, which take the dedup script.
        const string body = """
            {"events":[
             {"event_type":"product_view","timestamp":"2026-01-15T14:30:00Z","session_id":"warm-up","product_id":7003338965178,"contextual_data":{"page":{"path":"/products/warm-up"}}},
             {"event_type":"page_view","timestamp":"2026-01-15T14:30:01Z","session_id":"warm-up"}]}
            """;
        using var request = JsonRequest(new Uri(address, BeaconApi.Path), body);
        request.Headers.Add(BeaconApi.TokenHeader, token);
        using var response = await http.SendAsync(request, stoppingToken);
        await Expect(response, HttpStatusCode.Created, stoppingToken);
    }

    private static async Task RehearseAlanaAsync(HttpClient http, Uri address, string token, CancellationToken stoppingToken)
    {
        var body = $$"""{"events":[{"eventId":"{{Guid.NewGuid()}}","eventType":"detail-page-view","visitorId":"warm-up","productId":"8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"}]}""";
        using var request = JsonRequest(new Uri(address, AlanaEventsApi.Path), body);
        request.Headers.Add(AlanaEventsApi.KeyHeader, token);
        using var response = await http.SendAsync(request, stoppingToken);
        await Expect(response, HttpStatusCode.OK, stoppingToken);
    }

    private static async Task<bool> SpeaksHttp2Async(Uri address, string token, CancellationToken stoppingToken)
    {
        // A handler of its own: a channel configures its handler, which must not have sent a request yet.
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = LoopbackHandler() });
        var headers = new Metadata
        {
            { EventIngestService.TokenMetadataKey, token },
            { "user-agent", RehearsalUserAgent },
        };
        var request = new SendEventsRequest
        {
            Events =
            {
                new Event
                {
                    EventId = Guid.NewGuid().ToString(),
                    EventType = "product_view",
                    Timestamp = Timestamp.FromDateTime(new DateTime(2026, 1, 15, 14, 30, 0, DateTimeKind.Utc)),
                    SessionId = "warm-up",
                    ProductId = "7003338965178",
                },
            },
        };
        SendEventsResponse response;
        try
        {
            response = await new EventIngest.EventIngestClient(channel)
                .SendAsync(request, headers, DateTime.UtcNow + RoundTripTimeout, stoppingToken);
        }
        // Connection refused, or an HTTP/1.1-only endpoint refusing the HTTP/2 preface.
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal && ex.InnerException is HttpRequestException or IOException)
        {
            return false;
        }
        if (response.Accepted != 1)
        {
            throw new WarmUpException($"gRPC Send on {address} accepted {response.Accepted} of 1 events: {string.Join("; ", response.Rejections)}");
        }
        return true;
    }

    // Our own loopback: the certificate of a TLS endpoint is not issued to 127.0.0.1.
    private static SocketsHttpHandler LoopbackHandler() =>
        new() { SslOptions = { RemoteCertificateValidationCallback = static (_, _, _, _) => true } };

    private static HttpRequestMessage JsonRequest(Uri uri, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent(body, Encoding.UTF8, "text/plain"),
        };
        request.Headers.UserAgent.ParseAdd(RehearsalUserAgent);
        return request;
    }

    private static async Task Expect(HttpResponseMessage response, HttpStatusCode expected, CancellationToken stoppingToken)
    {
        if (response.StatusCode != expected)
        {
            var body = await response.Content.ReadAsStringAsync(stoppingToken);
            throw new WarmUpException($"{response.RequestMessage?.RequestUri?.AbsolutePath} answered {(int)response.StatusCode} instead of {(int)expected}: {body}");
        }
    }

    // Kestrel reports what it bound: 0.0.0.0, [::] and localhost are all reached on 127.0.0.1.
    private static Uri Loopback(string address)
    {
        var uri = new UriBuilder(address);
        if (uri.Host is "localhost" or "0.0.0.0" or "[::]" or "::" or "+" or "*")
        {
            uri.Host = "127.0.0.1";
        }
        return uri.Uri;
    }
}

/// <summary>A door answered the rehearsal with something else than its success: the service is not fit to serve.</summary>
public sealed class WarmUpException(string message) : Exception(message);
