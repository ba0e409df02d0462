using System.Net;
using System.Text.Json;

namespace Beacon.Ingestion.Tests;

/// <summary>What the service documents about itself: the catalog and the OpenAPI document.</summary>
public sealed class DocumentationTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    [Fact]
    public async Task EventTypesListsTheCatalogWithRequiredFieldsAndIsServedFromTheOutputCache()
    {
        var client = host.CreateClient();

        var first = await client.GetAsync("/v1/event-types");
        var second = await client.GetAsync("/v1/event-types");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var types = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("eventTypes").EnumerateArray().ToList();
        Assert.Equal(Core.Catalog.EventCatalog.All.Count, types.Count);
        var click = types.Single(t => t.GetProperty("name").GetString() == "product_click");
        Assert.Equal(["event_type", "timestamp", "session_id", "product_id", "position"],
            click.GetProperty("required").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        var purchase = types.Single(t => t.GetProperty("name").GetString() == "purchase-complete");
        Assert.Equal("alana", purchase.GetProperty("family").GetString());
        Assert.Contains("productIds", purchase.GetProperty("required").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        Assert.True(second.Headers.Age.HasValue, "the second response comes from the output cache");
        var cacheKeys = host.Redis.GetServers()[0].Keys(pattern: "*", pageSize: 1000).Select(k => (string)k!).ToList();
        Assert.Contains(cacheKeys, k => k.Contains("event-types", StringComparison.OrdinalIgnoreCase) || k.StartsWith("__MSOCV", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheRealStatusCodes()
    {
        var response = await host.CreateClient().GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths");
        var beacon = paths.GetProperty("/beacon").GetProperty("post");
        Assert.Equal(["200", "201", "401", "403", "413", "422", "429", "503"], beacon.GetProperty("responses").EnumerateObject().Select(p => p.Name).Order());
        var content = beacon.GetProperty("requestBody").GetProperty("content");
        Assert.True(content.TryGetProperty("text/plain", out _));
        Assert.Equal("product_click", content.GetProperty("application/json").GetProperty("example").GetProperty("events")[0].GetProperty("event_type").GetString());
        var alana = paths.GetProperty("/api/v1/events").GetProperty("post");
        Assert.Contains("429", alana.GetProperty("responses").EnumerateObject().Select(p => p.Name));
        Assert.True(paths.TryGetProperty("/v1/event-types", out _));
    }
}
