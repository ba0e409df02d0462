using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>The fields of a parsed <see cref="Event"/> (the JSON doors, Admin.Web's pasted event).</summary>
internal readonly struct ParsedEventFields(Event e) : IEventFields
{
    public string EventType => e.EventType;

    public bool IsPresent(EventRequirement requirement) => requirement.IsPresentIn(e);

    public int LengthOf(EventStringFields.Accessor field) => field.Get(e).Length;

    public bool HasPosition => e.HasPosition;

    public uint Position => e.Position;

    public string Revenue => e.Revenue;

    public string Currency
    {
        get => e.Currency;
        set => e.Currency = value;
    }

    public bool HasInvalidProductId
    {
        get
        {
            foreach (var id in e.ProductIds)
            {
                if (id.Length == 0 || id.Length > EventValidator.MaxProductIdLength)
                {
                    return true;
                }
            }
            return false;
        }
    }

    public bool HasInvalidConsent
    {
        get
        {
            if (e.Consent.Count > EventCatalog.MaxConsentCategories)
            {
                return true;
            }
            foreach (var category in e.Consent)
            {
                if (!EventValidator.IsConsentCategory(category.Length))
                {
                    return true;
                }
            }
            return false;
        }
    }
}
