using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>
/// What <see cref="EventValidator"/> reads of an event, so one set of rules checks both a parsed
/// <see cref="Event"/> (<see cref="ParsedEventFields"/>) and an event read straight from the bytes it arrived in
/// (ingestion's <c>WireEvent</c>). Implemented by structs: the validator is generic over them and pays no interface calls.
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
}

/// <summary>A required catalog field with its presence check on a parsed event and its protobuf field number.</summary>
public sealed record EventRequirement(EventField Field, Func<Event, bool> IsPresentIn, int FieldNumber);

/// <summary>The fields of a parsed <see cref="Event"/> (the JSON doors, and gRPC events that could not be read from their bytes).</summary>
public readonly struct ParsedEventFields(Event e) : IEventFields
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
}
