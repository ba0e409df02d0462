using Beacon.Core.Catalog;

namespace Beacon.Core.Tests;

public sealed class EventCatalogTests
{
    [Theory]
    [InlineData("product_click", new[] { "event_type", "timestamp", "session_id", "product_id", "position" })]
    [InlineData("collection_view", new[] { "event_type", "timestamp", "session_id", "collection_handle" })]
    [InlineData("block_view", new[] { "event_type", "timestamp", "session_id", "attribution_token" })]
    [InlineData("purchase", new[] { "event_type", "timestamp", "session_id", "revenue", "currency" })]
    [InlineData("page_view", new[] { "event_type", "timestamp", "session_id" })]
    public void LayersTypesRequireTheirFieldsAndTheCommonOnes(string type, string[] required)
    {
        var definition = EventCatalog.Find(EventFamily.Layers, type);
        Assert.NotNull(definition);
        Assert.Equal(required.Order(), definition.Required.Select(f => f.Name).Order());
    }

    [Fact]
    public void AlanaTypesUseCamelCaseNamesAndRequireVisitorId()
    {
        var purchase = EventCatalog.Find(EventFamily.Alana, "purchase-complete");
        Assert.NotNull(purchase);
        Assert.Equal(["eventType", "visitorId", "productIds", "revenue", "currency"], purchase.Required.Select(purchase.JsonName));
        Assert.All(EventCatalog.All.Where(t => t.Family == EventFamily.Alana),
            t => Assert.Contains(EventCatalog.VisitorId, t.Required));
    }

    [Fact]
    public void SearchExistsInBothFamiliesWithItsOwnNames()
    {
        Assert.Equal("query", EventCatalog.Find(EventFamily.Layers, "search")!.Required.Last().Name);
        Assert.Equal("query", EventCatalog.Find(EventFamily.Alana, "search")!.Required.Last().AlanaName);
        Assert.Null(EventCatalog.Find(EventFamily.Layers, "home-page-view"));
        Assert.Single(EventCatalog.Names, n => n == "search");
    }
}
