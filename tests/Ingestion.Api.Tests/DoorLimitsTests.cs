using System.Net;
using Beacon.TestHost;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// Both JSON doors pass the one admission step: a token's own limits hold on <c>/beacon</c> as on
/// <c>/api/v1/events</c>, and each door has its documented defaults (docs/ingestion.md).
/// </summary>
public sealed class DoorLimitsTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task ATokensOwnLimitHoldsOnBeaconWith429AndRetryAfter()
    {
        var store = await host.CreateStoreAsync(perIpPerMinute: 3);
        var client = host.CreateClient();
        await WaitForFreshWindowAsync();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 4; i++)
        {
            var response = await PostAsync(client, "/beacon", "X-Storefront-Access-Token", store.Token);
            statuses.Add(response.StatusCode);
            limited = response.StatusCode == HttpStatusCode.TooManyRequests ? response : limited;
        }

        Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.TooManyRequests], statuses);
        Assert.InRange(limited!.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 2);
        Assert.Equal(3, (await host.QueuedEventsAsync(store.StoreId)).Count);
    }

    [Fact]
    public async Task AStorefrontTokenWithoutLimitsOfItsOwnIsHeldTo600RequestsAMinutePerAddressOnBeacon()
    {
        await using var service = new ServiceFactory<Program>(host.Backends);
        var store = await host.CreateStoreAsync();
        var client = service.CreateClient();
        await WaitForFreshMinuteAsync();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 601; i++)
        {
            statuses.Add((await PostAsync(client, "/beacon?validate=1", "X-Storefront-Access-Token", store.Token)).StatusCode);
        }

        Assert.Equal(600, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
    }

    [Fact]
    public async Task AlanaKeepsItsContractDefaultOf100RequestsAMinutePerKeyAndAddress()
    {
        await using var service = new ServiceFactory<Program>(host.Backends);
        var store = await host.CreateStoreAsync();
        var client = service.CreateClient();
        await WaitForFreshMinuteAsync();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 101; i++)
        {
            statuses.Add((await PostAsync(client, "/api/v1/events?validate=1", "x-api-key", store.Token, Batch(AlanaEvent))).StatusCode);
        }

        Assert.Equal(100, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
    }

    [Fact]
    public async Task TwoInstancesUnderABurstNeverLetMoreThanTheLimitThroughAndRefuseLittleBelowIt()
    {
        // Busy counters lease counts from Redis in advance; the limit holds across instances all the same, and leases
        // left unused by one instance cost the other at most a tenth of what was left.
        // Two instances with the default one-minute window (the shared host counts in windows of two seconds).
        await using var one = new ServiceFactory<Program>(host.Backends);
        await using var other = new ServiceFactory<Program>(host.Backends);
        var store = await host.CreateStoreAsync(perMinute: 300, perIpPerMinute: 100_000);
        var clients = new[] { one.CreateClient(), other.CreateClient() };
        await WaitForFreshMinuteAsync();

        var sent = 0;
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 32), async (lane, _) =>
        {
            while (Interlocked.Increment(ref sent) <= 600)
            {
                statuses.Add((await PostAsync(clients[lane % 2], "/beacon?validate=1", "X-Storefront-Access-Token", store.Token)).StatusCode);
            }
        });

        Assert.Equal(600, statuses.Count);
        Assert.All(statuses, s => Assert.Contains(s, (HttpStatusCode[])[HttpStatusCode.OK, HttpStatusCode.TooManyRequests]));
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 270, 300);
    }

    private const string AlanaEvent = """{"eventType":"detail-page-view","visitorId":"v-1","productId":"p-1"}""";

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string header, string token, string? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body ?? Batch(LayersEvent())) };
        request.Headers.Add(header, token);
        return client.SendAsync(request);
    }

    // The defaults count in one-minute windows: start a burst early in one so it does not straddle two.
    private static async Task WaitForFreshMinuteAsync()
    {
        var intoWindow = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() % 60_000;
        if (intoWindow > 45_000)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(60_000 - intoWindow + 50));
        }
    }
}
