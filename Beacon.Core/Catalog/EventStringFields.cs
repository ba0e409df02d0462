using System.Collections.Frozen;
using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>
/// The string-valued catalog fields and their protobuf properties, resolved once, so validating and translating
/// an event costs a delegate call per field instead of a string switch.
/// </summary>
public static class EventStringFields
{
    public sealed record Accessor(EventField Field, Func<Event, string> Get, Action<Event, string> Set)
    {
        /// <summary>The field's number in <c>beacon.v1.Event</c>.</summary>
        public int FieldNumber { get; } = FieldNumberOf(Field);
    }

    /// <summary>A catalog field's number in <c>beacon.v1.Event</c>, whose field names are the catalog's (Layers) names.</summary>
    public static int FieldNumberOf(EventField field) =>
        Event.Descriptor.FindFieldByName(field.Name)?.FieldNumber
        ?? throw new InvalidOperationException($"beacon.v1.Event has no field '{field.Name}' for the catalog's field of that name.");

    private static readonly Accessor[] All =
    [
        new(EventCatalog.EventId, e => e.EventId, (e, v) => e.EventId = v),
        new(EventCatalog.EventType, e => e.EventType, (e, v) => e.EventType = v),
        new(EventCatalog.SessionId, e => e.SessionId, (e, v) => e.SessionId = v),
        new(EventCatalog.DeviceId, e => e.DeviceId, (e, v) => e.DeviceId = v),
        new(EventCatalog.CustomerId, e => e.CustomerId, (e, v) => e.CustomerId = v),
        new(EventCatalog.AttributionToken, e => e.AttributionToken, (e, v) => e.AttributionToken = v),
        new(EventCatalog.ProductId, e => e.ProductId, (e, v) => e.ProductId = v),
        new(EventCatalog.VariantId, e => e.VariantId, (e, v) => e.VariantId = v),
        new(EventCatalog.CollectionHandle, e => e.CollectionHandle, (e, v) => e.CollectionHandle = v),
        new(EventCatalog.Query, e => e.Query, (e, v) => e.Query = v),
        new(EventCatalog.MarketingSource, e => e.MarketingSource, (e, v) => e.MarketingSource = v),
        new(EventCatalog.MarketingMedium, e => e.MarketingMedium, (e, v) => e.MarketingMedium = v),
        new(EventCatalog.MarketingCampaign, e => e.MarketingCampaign, (e, v) => e.MarketingCampaign = v),
        new(EventCatalog.ShoppingChannel, e => e.ShoppingChannel, (e, v) => e.ShoppingChannel = v),
        new(EventCatalog.VisitorId, e => e.VisitorId, (e, v) => e.VisitorId = v),
        new(EventCatalog.UserId, e => e.UserId, (e, v) => e.UserId = v),
        new(EventCatalog.CategoryPath, e => e.CategoryPath, (e, v) => e.CategoryPath = v),
        new(EventCatalog.Revenue, e => e.Revenue, (e, v) => e.Revenue = v),
        new(EventCatalog.Currency, e => e.Currency, (e, v) => e.Currency = v),
    ];

    // By reference: catalog fields are singletons, and a record's own hash would hash every string it holds.
    private static readonly FrozenDictionary<EventField, Accessor> ByField = All.ToFrozenDictionary<Accessor, EventField>(a => a.Field, ReferenceEqualityComparer.Instance);

    /// <summary>Per family: the string fields with a length limit, in catalog order.</summary>
    private static readonly Accessor[] LayersLimited = Limited(EventFamily.Layers);
    private static readonly Accessor[] AlanaLimited = Limited(EventFamily.Alana);

    public static Accessor? Of(EventField field) => ByField.GetValueOrDefault(field);

    public static Accessor[] WithMaxLength(EventFamily family) => family == EventFamily.Alana ? AlanaLimited : LayersLimited;

    private static Accessor[] Limited(EventFamily family) =>
        EventCatalog.FieldsOf(family).Where(f => f.MaxLength > 0 && ByField.ContainsKey(f)).Select(f => ByField[f]).ToArray();
}
