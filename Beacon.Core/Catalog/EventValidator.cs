using System.Collections.Frozen;
using System.Globalization;
using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>
/// Checks a translated event against <see cref="EventCatalog"/>: known type, required fields present, lengths
/// and formats. Reasons name fields as the family's JSON does (<c>product_id</c> or <c>productId</c>).
/// The same rules read a parsed <see cref="Event"/> or an event read from its received bytes (<see cref="IEventFields"/>);
/// a value it normalizes (the currency's case) it sets on the event it checked.
/// </summary>
public static class EventValidator
{
    public const int MaxProductIdLength = 256;

    /// <summary>What is wrong with a <c>consent</c> list that breaks <see cref="IsConsentCategory"/> or holds too many names.</summary>
    public static readonly string ConsentProblem =
        $"must be an array of at most {EventCatalog.MaxConsentCategories} names of 1 to {EventCatalog.Consent.MaxLength} characters";

    public static EventRejection? Validate(Event e, EventFamily family, int index)
    {
        var fields = new ParsedEventFields(e);
        return Validate(ref fields, family, index);
    }

    /// <summary>
    /// The rules over any <see cref="IEventFields"/>. Given a struct by reference, it is compiled for that struct:
    /// no interface calls per field, and a value it normalizes stays set.
    /// </summary>
    public static EventRejection? Validate<TFields>(ref TFields e, EventFamily family, int index) where TFields : struct, IEventFields
    {
        var typeField = Name(EventCatalog.EventType, family);
        if (e.EventType.Length == 0)
        {
            return new(index, RejectionCodes.MissingField, $"missing required field '{typeField}'");
        }
        var definition = EventCatalog.Find(family, e.EventType);
        if (definition is null)
        {
            return new(index, RejectionCodes.UnknownType, $"unknown {typeField} '{Shorten(e.EventType)}'");
        }
        foreach (var requirement in RequiredOf[definition])
        {
            if (!e.IsPresent(requirement))
            {
                return new(index, RejectionCodes.MissingField, $"missing required field '{definition.JsonName(requirement.Field)}'");
            }
        }
        foreach (var accessor in EventStringFields.WithMaxLength(family))
        {
            var field = accessor.Field;
            if (e.LengthOf(accessor) > field.MaxLength)
            {
                return new(index, RejectionCodes.TooLong,
                    $"field '{definition.JsonName(field)}' is longer than {field.MaxLength} characters");
            }
        }
        if (e.HasPosition && e.Position == 0)
        {
            return Invalid(index, definition, EventCatalog.Position, "must be a positive whole number");
        }
        if (e.Revenue.Length > 0 && !IsDecimal(e.Revenue))
        {
            return Invalid(index, definition, EventCatalog.Revenue, "must be a decimal number such as 19.99");
        }
        if (e.Currency.Length > 0 && !IsCurrencyCode(e.Currency = e.Currency.ToUpperInvariant()))
        {
            return Invalid(index, definition, EventCatalog.Currency, "must be a three-letter ISO 4217 code such as USD");
        }
        if (e.HasInvalidProductId)
        {
            return Invalid(index, definition, EventCatalog.ProductIds, $"must hold ids of 1 to {MaxProductIdLength} characters");
        }
        if (e.HasInvalidConsent)
        {
            return Invalid(index, definition, EventCatalog.Consent, ConsentProblem);
        }
        return null;
    }

    /// <summary>Whether a consent category name of this many characters is one (the list may hold <see cref="EventCatalog.MaxConsentCategories"/>).</summary>
    public static bool IsConsentCategory(int length) => length > 0 && length <= EventCatalog.Consent.MaxLength;

    public static bool IsDecimal(string value) =>
        decimal.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
            CultureInfo.InvariantCulture, out _);

    public static bool IsCurrencyCode(string value) =>
        value.Length == 3 && char.IsAsciiLetterUpper(value[0]) && char.IsAsciiLetterUpper(value[1]) && char.IsAsciiLetterUpper(value[2]);

    private static EventRejection Invalid(int index, EventTypeDefinition definition, EventField field, string problem) =>
        new(index, RejectionCodes.InvalidField, $"field '{definition.JsonName(field)}' {problem}");

    private static string Name(EventField field, EventFamily family) => family == EventFamily.Alana ? field.AlanaName : field.Name;

    // Unknown type names come from clients: keep messages and logs bounded.
    private static string Shorten(string value) => value.Length <= 64 ? value : value[..64] + "...";

    // Per catalog type, its required fields with their presence checks, resolved once (by reference: types are singletons).
    private static readonly FrozenDictionary<EventTypeDefinition, EventRequirement[]> RequiredOf =
        EventCatalog.All.ToFrozenDictionary<EventTypeDefinition, EventTypeDefinition, EventRequirement[]>(
            t => t, t => [.. t.Required.Select(f => new EventRequirement(f, PresenceCheck(f), EventStringFields.FieldNumberOf(f)))],
            ReferenceEqualityComparer.Instance);

    private static Func<Event, bool> PresenceCheck(EventField field)
    {
        if (EventStringFields.Of(field) is { } accessor)
        {
            var get = accessor.Get;
            return e => get(e).Length > 0;
        }
        return field.Name switch
        {
            "timestamp" => e => e.Timestamp is not null,
            "position" => e => e.HasPosition,
            "product_ids" => e => e.ProductIds.Count > 0,
            "contextual_data" => e => e.ContextualData is not null,
            "metadata" => e => e.Metadata is not null,
            _ => throw new InvalidOperationException($"The catalog requires '{field.Name}', which has no presence check."),
        };
    }
}
