namespace Beacon.Core.Catalog;

/// <summary>One row of the event catalog: an event type, the fields it requires and an example body.</summary>
public sealed record EventTypeDefinition(
    string Name,
    EventFamily Family,
    string Description,
    IReadOnlyList<EventField> Required,
    string ExampleJson)
{
    /// <summary>Fields the type accepts but does not require (every other field of its family).</summary>
    public IReadOnlyList<EventField> Optional =>
        EventCatalog.FieldsOf(Family).Where(f => !Required.Contains(f)).ToList();

    /// <summary>The name of a field as it appears in this family's JSON.</summary>
    public string JsonName(EventField field) => Family == EventFamily.Alana ? field.AlanaName : field.Name;
}
