using System.Collections.Frozen;

namespace Beacon.Core.Catalog;

/// <summary>
/// The one event catalog (DESIGN §2). Validation, the <c>GET /v1/event-types</c> document, the Admin.Web
/// reference page and the pipeline filter all read this table; nothing else lists event types.
/// </summary>
public static class EventCatalog
{
    public static readonly EventField EventId = new("event_id", "eventId", FieldType.String, "Client-chosen id used for deduplication; a UUIDv7 is assigned when missing.", 64);
    public static readonly EventField EventType = new("event_type", "eventType", FieldType.String, "The event type, one of the catalog's names.", 64);
    public static readonly EventField Timestamp = new("timestamp", "timestamp", FieldType.Timestamp, "When the event happened on the client (ISO 8601); stored as UTC.");
    public static readonly EventField SessionId = new("session_id", "sessionId", FieldType.String, "The shopper's session.", 256);
    public static readonly EventField DeviceId = new("device_id", "deviceId", FieldType.String, "A stable id of the device or browser.", 256);
    public static readonly EventField CustomerId = new("customer_id", "customerId", FieldType.Identifier, "The signed-in customer, when known.", 256);
    public static readonly EventField AttributionToken = new("attribution_token", "attributionToken", FieldType.String, "Token of the block or recommendation that led here.", 512);
    public static readonly EventField ProductId = new("product_id", "productId", FieldType.Identifier, "The product (numbers are carried as their digits).", 256);
    public static readonly EventField VariantId = new("variant_id", "variantId", FieldType.Identifier, "The product variant.", 256);
    public static readonly EventField CollectionHandle = new("collection_handle", "collectionHandle", FieldType.String, "The collection's handle.", 256);
    public static readonly EventField Query = new("query", "query", FieldType.String, "The search text.", 1024);
    public static readonly EventField Position = new("position", "position", FieldType.PositiveInteger, "1-based position of the product in the list shown.");
    public static readonly EventField MarketingSource = new("marketing_source", "marketingSource", FieldType.String, "utm_source.", 256);
    public static readonly EventField MarketingMedium = new("marketing_medium", "marketingMedium", FieldType.String, "utm_medium.", 256);
    public static readonly EventField MarketingCampaign = new("marketing_campaign", "marketingCampaign", FieldType.String, "utm_campaign.", 256);
    public static readonly EventField ContextualData = new("contextual_data", "contextualData", FieldType.Object, "Free JSON object; defaults to {}.");
    public static readonly EventField ShoppingChannel = new("shopping_channel", "shoppingChannel", FieldType.String, "`web` or `app`; inferred when missing.", 16);
    public static readonly EventField VisitorId = new("visitor_id", "visitorId", FieldType.String, "Alana: the anonymous visitor.", 256);
    public static readonly EventField UserId = new("user_id", "userId", FieldType.Identifier, "Alana: the signed-in user.", 256);
    public static readonly EventField ProductIds = new("product_ids", "productIds", FieldType.IdentifierList, "Alana: the products of a purchase.");
    public static readonly EventField CategoryPath = new("category_path", "categoryPath", FieldType.String, "Alana: category path such as `Women > Shoes`.", 1024);
    public static readonly EventField Revenue = new("revenue", "revenue", FieldType.Decimal, "Order value as a decimal number.");
    public static readonly EventField Currency = new("currency", "currency", FieldType.Currency, "ISO 4217 currency code, e.g. `USD`.", 3);
    public static readonly EventField Metadata = new("metadata", "metadata", FieldType.Object, "Alana: free JSON object.");
    public static readonly EventField Consent = new("consent", "consent", FieldType.ConsentList,
        "Consent categories the shopper granted, e.g. [\"analytics\", \"marketing\"]; a pipeline that requires one is not given events without it.", 64);

    /// <summary>At most this many consent categories per event.</summary>
    public const int MaxConsentCategories = 20;

    /// <summary>Every client field of the canonical event, in the order documentation shows them.</summary>
    public static readonly IReadOnlyList<EventField> AllFields =
    [
        EventId, EventType, Timestamp, SessionId, DeviceId, CustomerId, AttributionToken, ProductId, VariantId,
        CollectionHandle, Query, Position, MarketingSource, MarketingMedium, MarketingCampaign, ContextualData,
        ShoppingChannel, VisitorId, UserId, ProductIds, CategoryPath, Revenue, Currency, Metadata, Consent,
    ];

    private static readonly IReadOnlyList<EventField> LayersFields = AllFields
        .Where(f => f != VisitorId && f != UserId && f != ProductIds && f != CategoryPath && f != Metadata).ToList();

    private static readonly IReadOnlyList<EventField> AlanaFields =
        [EventId, EventType, Timestamp, VisitorId, UserId, SessionId, ProductId, ProductIds, CategoryPath, Query, Revenue, Currency, Metadata, ShoppingChannel, Consent];

    /// <summary>Fields every Layers event requires besides its type's own.</summary>
    public static readonly IReadOnlyList<EventField> LayersCommonRequired = [EventType, Timestamp, SessionId];

    /// <summary>Fields every Alana event requires besides its type's own.</summary>
    public static readonly IReadOnlyList<EventField> AlanaCommonRequired = [EventType, VisitorId];

    public static IReadOnlyList<EventField> FieldsOf(EventFamily family) => family == EventFamily.Alana ? AlanaFields : LayersFields;

    /// <summary>The catalog, in documentation order.</summary>
    public static readonly IReadOnlyList<EventTypeDefinition> All =
    [
        Layers("product_view", "A product detail page was viewed.", [ProductId], """{"product_id":7003338965178}"""),
        Layers("add_to_cart", "A product was added to the cart.", [ProductId], """{"product_id":7003338965178,"variant_id":41234567890}"""),
        Layers("product_click", "A product in a list was clicked.", [ProductId, Position], """{"product_id":7003338965178,"position":3}"""),
        Layers("product_impression", "A product in a list was shown.", [ProductId, Position], """{"product_id":7003338965178,"position":1}"""),
        Layers("product_hover", "The pointer rested on a product in a list.", [ProductId, Position], """{"product_id":7003338965178,"position":2}"""),
        Layers("product_touch", "A product in a list was touched (mobile).", [ProductId, Position], """{"product_id":7003338965178,"position":4}"""),
        Layers("collection_view", "A collection page was viewed.", [CollectionHandle], """{"collection_handle":"summer-collection"}"""),
        Layers("block_view", "A merchandising block was shown.", [AttributionToken], """{"attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd"}"""),
        Layers("search", "A search was made.", [Query], """{"query":"linen shirt"}"""),
        Layers("page_view", "Any page was viewed.", [], """{}"""),
        Layers("cart_view", "The cart was viewed.", [], """{}"""),
        Layers("checkout_started", "Checkout began.", [], """{}"""),
        Layers("purchase", "An order was placed.", [Revenue, Currency], """{"revenue":"129.90","currency":"USD"}"""),
        Alana("home-page-view", "The home page was viewed.", [], """{}"""),
        Alana("search", "A search was made.", [Query], """{"query":"linen shirt"}"""),
        Alana("category-view", "A category page was viewed.", [CategoryPath], """{"categoryPath":"Women > Shoes"}"""),
        Alana("detail-page-view", "A product detail page was viewed.", [ProductId], """{"productId":"8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"}"""),
        Alana("add-to-cart", "A product was added to the cart.", [ProductId], """{"productId":"8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"}"""),
        Alana("shopping-cart-page-view", "The cart page was viewed.", [], """{}"""),
        Alana("purchase-complete", "An order was completed.", [ProductIds, Revenue, Currency], """{"productIds":["8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"],"revenue":59.5,"currency":"EUR"}"""),
    ];

    private static readonly FrozenDictionary<string, EventTypeDefinition> LayersByName =
        All.Where(t => t.Family == EventFamily.Layers).ToFrozenDictionary(t => t.Name, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, EventTypeDefinition> AlanaByName =
        All.Where(t => t.Family == EventFamily.Alana).ToFrozenDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>Every distinct event-type name (the pipeline filter's choices).</summary>
    public static readonly IReadOnlyList<string> Names = All.Select(t => t.Name).Distinct().ToList();

    /// <summary>Looks a type up within a family (<c>search</c> and <c>purchase</c>-like names exist in both).</summary>
    public static EventTypeDefinition? Find(EventFamily family, string? name) =>
        name is null ? null
        : (family == EventFamily.Alana ? AlanaByName : LayersByName).GetValueOrDefault(name);

    /// <summary>True when <paramref name="name"/> is a catalog type of any family.</summary>
    public static bool IsKnown(string name) => LayersByName.ContainsKey(name) || AlanaByName.ContainsKey(name);

    private static EventTypeDefinition Layers(string name, string description, EventField[] required, string example) =>
        new(name, EventFamily.Layers, description, [.. LayersCommonRequired, .. required], example);

    private static EventTypeDefinition Alana(string name, string description, EventField[] required, string example) =>
        new(name, EventFamily.Alana, description, [.. AlanaCommonRequired, .. required], example);
}
