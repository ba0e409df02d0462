using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;

namespace Beacon.AppHost.Tests;

/// <summary>
/// Storefront load for a fault scenario: a few senders POST /beacon batches of 10 events, every event with an id of
/// its own, and record what each request was told. Acknowledged = the ids of 2xx answers; those must all be delivered.
/// A request that failed tells nothing (its events may or may not be stored); it is counted, never retried.
/// </summary>
internal sealed class FaultLoad : IAsyncDisposable
{
    public const int EventsPerRequest = 10;

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _senders = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _url;
    private readonly string _token;
    private readonly string _prefix;
    private long _lastAcknowledgedAt = -1;

    private FaultLoad(string url, string token, string prefix)
    {
        _url = url;
        _token = token;
        _prefix = prefix;
    }

    public ConcurrentBag<string> Acknowledged { get; } = [];

    /// <summary>Events of requests that got no 2xx: a status, a timeout or a broken connection.</summary>
    public ConcurrentBag<(string Outcome, string[] Ids)> Failed { get; } = [];

    /// <summary>2xx answers to requests sent while a fault was on (see <see cref="FaultOn"/>).</summary>
    public int AcknowledgedDuringFault => _acknowledgedDuringFault;

    public int Requests => _requests;

    public bool FaultOn { get; set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    private int _acknowledgedDuringFault;
    private int _requests;

    public static FaultLoad Start(string ingestionUrl, string token, string prefix, int senders = 4, TimeSpan? pause = null)
    {
        var load = new FaultLoad(ingestionUrl, token, prefix);
        for (var i = 0; i < senders; i++)
        {
            load._senders.Add(Task.Run(() => load.SendAsync(pause ?? TimeSpan.FromMilliseconds(20))));
        }
        return load;
    }

    /// <summary>
    /// Dry runs (<c>?validate=1</c>) with <paramref name="token"/>: each passes the token check of the replica it
    /// reaches, which then knows the token, and queues nothing.
    /// </summary>
    public static async Task DryRunAsync(string ingestionUrl, string token, int times)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        for (var i = 0; i < times; i++)
        {
            // A new connection each time, so the proxy spreads them over the replicas.
            using var request = NewRequest($"{ingestionUrl}/beacon?validate=1", token, [$"dry-{Guid.NewGuid():N}"]);
            request.Headers.ConnectionClose = true;
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
    }

    private static HttpRequestMessage NewRequest(string url, string token, string[] ids)
    {
        var events = string.Join(",", ids.Select(id =>
            $$"""{"event_id":"{{id}}","event_type":"product_view","timestamp":"2025-01-15T14:30:00Z","session_id":"s1","product_id":7003338965178}"""));
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent($$"""{"events":[{{events}}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Storefront-Access-Token", token);
        return request;
    }

    private async Task SendAsync(TimeSpan pause)
    {
        while (!_stop.IsCancellationRequested)
        {
            var ids = Enumerable.Range(0, EventsPerRequest).Select(_ => $"{_prefix}-{Guid.NewGuid():N}").ToArray();
            using var request = NewRequest(_url + "/beacon", _token, ids);
            var faultAtSend = FaultOn;
            Interlocked.Increment(ref _requests);
            try
            {
                using var response = await _http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    foreach (var id in ids)
                    {
                        Acknowledged.Add(id);
                    }
                    Interlocked.Exchange(ref _lastAcknowledgedAt, _clock.ElapsedMilliseconds);
                    if (faultAtSend && FaultOn)
                    {
                        Interlocked.Increment(ref _acknowledgedDuringFault);
                    }
                }
                else
                {
                    var retryAfter = response.Headers.RetryAfter is null ? "" : " + Retry-After";
                    Failed.Add(($"{(int)response.StatusCode}{retryAfter}", ids));
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Failed.Add((ex is TaskCanceledException ? "timeout" : "connection error", ids));
            }
            try
            {
                await Task.Delay(pause, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) until a request sent after now is acknowledged; how long that took.</summary>
    public async Task<TimeSpan?> WaitForAcknowledgementAsync(TimeSpan timeout)
    {
        var from = _clock.ElapsedMilliseconds;
        while (_clock.ElapsedMilliseconds - from < timeout.TotalMilliseconds)
        {
            if (Interlocked.Read(ref _lastAcknowledgedAt) > from)
            {
                return TimeSpan.FromMilliseconds(Interlocked.Read(ref _lastAcknowledgedAt) - from);
            }
            await Task.Delay(50);
        }
        return null;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_senders);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _http.Dispose();
        _stop.Dispose();
    }
}
