using Beacon.Core.Catalog;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Beacon.Ingestion.Apis;

/// <summary><c>GET /v1/event-types</c>: the event catalog as JSON, served through the Redis output cache.</summary>
public static class EventTypesApi
{
    public const string CachePolicy = "event-types";

    public static IEndpointRouteBuilder MapEventTypesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/event-types", GetEventTypes)
            .WithTags("Catalog")
            .WithName("GetEventTypes")
            .WithSummary("Every event type with its required and optional fields")
            .CacheOutput(CachePolicy);
        return app;
    }

    public static Ok<EventTypesDocument> GetEventTypes() => TypedResults.Ok(Document);

    // The catalog is compiled in: build the document once.
    private static readonly EventTypesDocument Document = new(EventCatalog.All.Select(t => new EventTypeDocument(
        t.Name,
        t.Family == EventFamily.Alana ? "alana" : "layers",
        t.Family == EventFamily.Alana ? "POST /api/v1/events" : "POST /beacon",
        t.Description,
        t.Required.Select(f => Field(t, f)).ToList(),
        t.Optional.Select(f => Field(t, f)).ToList(),
        System.Text.Json.JsonDocument.Parse(t.ExampleJson).RootElement.Clone()))
        .ToList());

    private static EventFieldDocument Field(EventTypeDefinition type, EventField field) =>
        new(type.JsonName(field), field.Name, TypeName(field.Type), field.Description, field.MaxLength > 0 ? field.MaxLength : null);

    private static string TypeName(FieldType type) => type switch
    {
        FieldType.String => "string",
        FieldType.Identifier => "identifier",
        FieldType.Timestamp => "timestamp",
        FieldType.PositiveInteger => "positive_integer",
        FieldType.Decimal => "decimal",
        FieldType.Currency => "currency",
        FieldType.Object => "object",
        FieldType.IdentifierList => "identifier_list",
        FieldType.ConsentList => "string_list",
        _ => type.ToString().ToLowerInvariant(),
    };
}

public sealed record EventTypesDocument(IReadOnlyList<EventTypeDocument> EventTypes);

/// <summary>One catalog row. <c>name</c> of a field is its JSON name in this type's API; <c>canonical</c> the snake_case one.</summary>
public sealed record EventTypeDocument(
    string Name, string Family, string Endpoint, string Description,
    IReadOnlyList<EventFieldDocument> Required, IReadOnlyList<EventFieldDocument> Optional, System.Text.Json.JsonElement Example);

public sealed record EventFieldDocument(string Name, string Canonical, string Type, string Description, int? MaxLength);
