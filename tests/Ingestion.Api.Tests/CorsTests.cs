using System.Net;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>DESIGN §3 CORS: reflect allowed origins with credentials, refuse others with 403 (sendBeacon ignores CORS).</summary>
public sealed class CorsTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    private readonly HttpClient _client = host.CreateClient();

    private Task<HttpResponseMessage> PostAsync(string token, string? origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/beacon?token=" + Uri.EscapeDataString(token)) { Content = Json(SeedPayload, "text/plain") };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        return _client.SendAsync(request);
    }

    [Fact]
    public async Task AnAllowedOriginIsReflectedWithCredentials()
    {
        var store = await host.CreateStoreAsync(allowedOrigins: ["https://shop.example", "https://www.shop.example"]);

        var response = await PostAsync(store.Token, "https://www.shop.example");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("https://www.shop.example", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal("true", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Credentials")));
        Assert.Contains("Origin", response.Headers.Vary);
        Assert.Equal("Retry-After", Assert.Single(response.Headers.GetValues("Access-Control-Expose-Headers")));
    }

    [Fact]
    public async Task AnOriginTheTokenDoesNotAllowIsRefusedWith403AndNothingIsStored()
    {
        var store = await host.CreateStoreAsync(allowedOrigins: ["https://shop.example"]);

        var response = await PostAsync(store.Token, "https://evil.example");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("""{"error":"Origin not allowed"}""", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Empty(await host.QueuedEventsAsync(store.StoreId));
    }

    [Fact]
    public async Task RequestsWithoutAnOriginAreNotAffectedByTheOriginList()
    {
        var store = await host.CreateStoreAsync(allowedOrigins: ["https://shop.example"]);

        var response = await PostAsync(store.Token, origin: null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task AnEmptyOriginListAllowsAnyOrigin()
    {
        var store = await host.CreateStoreAsync();

        var response = await PostAsync(store.Token, "https://anything.example");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("https://anything.example", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
    }

    [Theory]
    [InlineData("/beacon")]
    [InlineData("/api/v1/events")]
    public async Task PreflightIsAnsweredForAnyOrigin(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", "https://unknown.example");
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type, x-storefront-access-token");

        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("https://unknown.example", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal("true", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Credentials")));
        Assert.Contains("POST", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Methods")));
        Assert.Contains("x-storefront-access-token", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Headers")));
    }
}
