using System.Net;
using System.Net.Http.Headers;
using Beacon.Sdk.BrowserTests.Infrastructure;

namespace Beacon.Sdk.BrowserTests;

[Collection(BrowserCollection.Name)]
public sealed class SdkScriptTests(SdkEnvironment environment)
{
    [Fact]
    public async Task IngestionServesTheSdkAsCacheableJavaScriptThatAnyOriginMayLoad()
    {
        using var client = environment.Ingestion.CreateClient();
        client.DefaultRequestHeaders.Add("Origin", "https://shop.example");

        using var response = await client.GetAsync("/sdk/beacon.js");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        Assert.Equal("*", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal("cross-origin", Assert.Single(response.Headers.GetValues("Cross-Origin-Resource-Policy")));
        Assert.True(response.Headers.CacheControl?.Public);
        Assert.Equal(TimeSpan.FromMinutes(5), response.Headers.CacheControl?.MaxAge);
        Assert.NotNull(response.Headers.ETag);
        var script = await response.Content.ReadAsStringAsync();
        Assert.Contains("Beacon", script);
        Assert.Contains("sendBeacon", script);
    }

    [Fact]
    public async Task ARevalidationWithTheSameETagIsAnsweredNotModified()
    {
        using var client = environment.Ingestion.CreateClient();
        using var first = await client.GetAsync("/sdk/beacon.js");

        using var revalidation = new HttpRequestMessage(HttpMethod.Get, "/sdk/beacon.js");
        revalidation.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var second = await client.SendAsync(revalidation);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task TheServedScriptIsTheSourceFileInTheRepository()
    {
        using var client = environment.Ingestion.CreateClient();

        var served = await client.GetStringAsync("/sdk/beacon.js");

        Assert.Equal(await File.ReadAllTextAsync(RepositoryFiles.SdkScript), served);
    }
}
