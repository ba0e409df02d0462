using System.Net;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>Events carry the consent categories the shopper granted (DESIGN §9), through both JSON doors.</summary>
public sealed class ConsentTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task BeaconEventsCarryTheirConsentIntoTheQueueAndABadListDropsTheEvent()
    {
        var store = await host.CreateStoreAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/beacon")
        {
            Content = Json(Batch(
                LayersEvent(extra: "\"consent\":[\"analytics\",\"marketing\"]"),
                LayersEvent(),
                LayersEvent(extra: "\"consent\":[\"analytics\",7]"),
                LayersEvent(extra: $"\"consent\":[\"{new string('x', 65)}\"]"))),
        };
        request.Headers.Add("X-Storefront-Access-Token", store.Token);

        var response = await host.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(2, queued.Count);
        Assert.Equal(["analytics", "marketing"], queued[0].Event.Consent);
        Assert.Empty(queued[1].Event.Consent);
    }

    [Fact]
    public async Task AlanaEventsCarryTheirConsent()
    {
        var store = await host.CreateStoreAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/events")
        {
            Content = Json(Batch("""{"eventType":"home-page-view","visitorId":"v-1","consent":["personalization"]}""")),
        };
        request.Headers.Add("x-api-key", store.Token);

        var response = await host.CreateClient().SendAsync(request);

        Assert.Equal("""{"status":"ok","stored":1,"errors":0}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(["personalization"], Assert.Single(await host.QueuedEventsAsync(store.StoreId)).Event.Consent);
    }
}
