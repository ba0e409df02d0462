using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>
/// What <see cref="EventValidator"/> reads of an event, so one set of rules checks both a parsed <see cref="Event"/>
/// (through <see cref="ParsedEventFields"/>, the one adapter) and an event read straight from the bytes it arrived in
/// (ingestion's <c>WireFields</c>, the wire reader's own result). Implemented by structs, which the validator is
/// compiled for.
/// </summary>
public interface IEventFields
{
    string EventType { get; }

    /// <summary>Whether a catalog field has a value (a non-empty string, a present message or position, a non-empty list).</summary>
    bool IsPresent(EventRequirement requirement);

    /// <summary>The length, in UTF-16 characters as parsed, of a string field's value; 0 when it has none.</summary>
    int LengthOf(EventStringFields.Accessor field);

    bool HasPosition { get; }

    uint Position { get; }

    string Revenue { get; }

    /// <summary>The currency code; the validator stores it upper-cased.</summary>
    string Currency { get; set; }

    /// <summary>Whether some entry of <c>product_ids</c> is empty or longer than <see cref="EventValidator.MaxProductIdLength"/>.</summary>
    bool HasInvalidProductId { get; }

    /// <summary>
    /// Whether <c>consent</c> holds more than <see cref="EventCatalog.MaxConsentCategories"/> names or one that is not
    /// <see cref="EventValidator.IsConsentCategory"/>.
    /// </summary>
    bool HasInvalidConsent { get; }
}
