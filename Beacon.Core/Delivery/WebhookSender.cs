using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;

namespace Beacon.Core.Delivery;

/// <summary>
/// Sends one signed webhook request and says what happened; it never retries (the worker's delivery engine
/// owns retries and their schedule). Its <see cref="HttpClient"/> is its own, built on a
/// <see cref="SocketsHttpHandler"/> whose connect callback is the <see cref="DestinationGuard"/>, so no
/// default resilience handler can resend a POST behind the engine's back.
/// Admin.Web's "send test event" button calls the same sender.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    // One connection pool per destination scope: a pooled connection skips the connect callback, so a
    // connection one store was allowed to open must never carry another store's request.
    private readonly ConcurrentDictionary<string, Lazy<HttpClient>> _clients = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly DeliveryOptions _options;

    public WebhookSender(TimeProvider time, IOptions<DeliveryOptions> options)
    {
        _time = time;
        _options = options.Value;
    }

    private HttpClient ClientFor(DestinationScope scope) =>
        _clients.GetOrAdd(scope.Key, _ => new Lazy<HttpClient>(() => CreateClient(scope))).Value;

    private static HttpClient CreateClient(DestinationScope scope)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) => DestinationGuard.ConnectAsync(context.DnsEndPoint, scope, cancellationToken),
            // Never through a proxy (HTTP_PROXY/HTTPS_PROXY or the system default): the guard checks the address it
            // connects to, which would then be the proxy's, and the proxy would reach private destinations for us.
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            // Redirects are followed by hand: only 307/308 keep the POST and its body (see SendAsync).
            AllowAutoRedirect = false,
            // Re-resolve destinations now and then, so a DNS change is followed and checked again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Beacon-Webhooks", "1.0"));
        return http;
    }

    public async Task<WebhookResult> SendAsync(WebhookRequest request, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var timestamp = now.ToUnixTimeSeconds();
        var signature = WebhookSigner.SignatureHeaderValue(request.Secrets, request.MessageId, timestamp, request.Body, now);
        var result = await SendSignedAsync(request, timestamp, signature, cancellationToken);
        return result with { SentTimestamp = timestamp, SentSignature = signature };
    }

    private async Task<WebhookResult> SendSignedAsync(WebhookRequest request, long timestamp, string signature, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        var started = Stopwatch.GetTimestamp();
        var http = ClientFor(request.Scope);
        try
        {
            var url = request.Url;
            for (var redirects = 0; ; redirects++)
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, url)
                {
                    Content = new ByteArrayContent(request.Body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
                };
                message.Headers.TryAddWithoutValidation(WebhookSigner.IdHeader, request.MessageId);
                message.Headers.TryAddWithoutValidation(WebhookSigner.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
                message.Headers.TryAddWithoutValidation(WebhookSigner.SignatureHeader, signature);

                using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var status = (int)response.StatusCode;
                // 307/308 resend the same signed POST to the new location, whose address the guard checks again.
                // 301/302/303 would turn it into a GET without the events, so they count as a refusal.
                if (status is 307 or 308 && response.Headers.Location is { } location && redirects < _options.MaxRedirects)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(url, location);
                    if (next.Scheme == Uri.UriSchemeHttp || next.Scheme == Uri.UriSchemeHttps)
                    {
                        url = next;
                        continue;
                    }
                }
                var latency = Stopwatch.GetElapsedTime(started);
                var excerpt = await ReadExcerptAsync(response, cancellationToken);
                return new WebhookResult(Classify(status), status, latency, excerpt,
                    response.IsSuccessStatusCode ? null : $"HTTP {status} {response.ReasonPhrase}", RetryAfterOf(response))
                {
                    ContentType = response.Content.Headers.ContentType?.MediaType,
                    ContentLength = response.Content.Headers.ContentLength,
                };
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WebhookResult(WebhookOutcome.Retry, null, Stopwatch.GetElapsedTime(started), null,
                $"No answer within {_options.Timeout.TotalSeconds:0} s", null);
        }
        catch (HttpRequestException ex) when (FindRefusal(ex) is { } refusal)
        {
            // A refused destination will not become public by waiting: the batch goes to the dead letters.
            return new WebhookResult(WebhookOutcome.Refused, null, Stopwatch.GetElapsedTime(started), null, refusal.Message, null);
        }
        catch (HttpRequestException ex)
        {
            return new WebhookResult(WebhookOutcome.Retry, null, Stopwatch.GetElapsedTime(started), null, ex.Message, null);
        }
    }

    private static DestinationRefusedException? FindRefusal(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is DestinationRefusedException refused)
            {
                return refused;
            }
        }
        return null;
    }

    /// <summary>2xx delivered; 5xx, 408 and 429 worth another try; any other answer is final.</summary>
    public static WebhookOutcome Classify(int status) => status switch
    {
        >= 200 and < 300 => WebhookOutcome.Delivered,
        408 or 429 or >= 500 => WebhookOutcome.Retry,
        _ => WebhookOutcome.Rejected,
    };

    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }
        if (retryAfter?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    /// <summary>
    /// The start of the answer, read within <see cref="DeliveryOptions.ResponseExcerptTimeout"/> of its own: the
    /// status has decided the outcome already, so a body that stalls or breaks off only shortens the excerpt.
    /// </summary>
    private async Task<string?> ReadExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (_options.ResponseExcerptLength <= 0)
        {
            return null;
        }
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(_options.ResponseExcerptTimeout);
        try
        {
            return await ReadExcerptUntilAsync(response, bound.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException
            && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<string?> ReadExcerptUntilAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var limit = _options.ResponseExcerptLength;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        // UTF-8 needs at most 4 bytes a character; read no more than the excerpt can show.
        var buffer = new byte[limit * 4];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
        {
            read += n;
        }
        if (read == 0)
        {
            return null;
        }
        var text = Encoding.UTF8.GetString(buffer, 0, read);
        return text.Length > limit ? text[..limit] : text;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values.Where(c => c.IsValueCreated))
        {
            client.Value.Dispose();
        }
    }
}

/// <summary>
/// One webhook delivery: where, the Standard Webhooks message id, the JSON body, the signing secrets and what the
/// store may reach (<see cref="DestinationGuard.ScopeFor"/>).
/// </summary>
public sealed record WebhookRequest(Uri Url, string MessageId, byte[] Body, WebhookSecrets Secrets, DestinationScope Scope);

public enum WebhookOutcome
{
    /// <summary>The destination answered 2xx.</summary>
    Delivered,
    /// <summary>5xx, 408, 429, a timeout or a connection error: try again later.</summary>
    Retry,
    /// <summary>Any other answer (e.g. 400, 410): the destination will not take it.</summary>
    Rejected,
    /// <summary>The destination resolved to an address webhooks may not reach.</summary>
    Refused,
}

/// <summary>What one attempt gave: the outcome, HTTP status if any, latency, the start of the answer and the error text.</summary>
public sealed record WebhookResult(
    WebhookOutcome Outcome, int? StatusCode, TimeSpan Latency, string? ResponseExcerpt, string? Error, TimeSpan? RetryAfter)
{
    public bool Delivered => Outcome == WebhookOutcome.Delivered;

    /// <summary>The <c>webhook-timestamp</c> the request carried (Admin.Web's test shows the signed headers).</summary>
    public long SentTimestamp { get; init; }

    /// <summary>The <c>webhook-signature</c> the request carried.</summary>
    public string SentSignature { get; init; } = "";

    /// <summary>The answer's media type (no parameters), if it declared one.</summary>
    public string? ContentType { get; init; }

    /// <summary>The answer's declared length (<c>Content-Length</c>), if any.</summary>
    public long? ContentLength { get; init; }
}
