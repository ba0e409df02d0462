using System.Text.Json.Nodes;
using Beacon.Ingestion.Apis.Json;
using Microsoft.OpenApi;

namespace Beacon.Ingestion.Apis;

internal static class OpenApiExtensions
{
    /// <summary>
    /// Documents a JSON request body without <c>Accepts</c> metadata: that would make routing answer 415 to
    /// <c>text/plain</c> (sendBeacon) and other Content-Types the contract says are read as JSON all the same.
    /// </summary>
    public static RouteHandlerBuilder DocumentsJsonBody<TBody>(this RouteHandlerBuilder builder, string exampleJson) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(TBody), null, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "Read as JSON whatever the Content-Type.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/json"] = new() { Schema = schema, Example = JsonNode.Parse(exampleJson) },
                    ["text/plain"] = new() { Schema = schema, Example = JsonNode.Parse(exampleJson) },
                },
            };
        });

    /// <summary>The answers both JSON doors share (see <see cref="JsonDoor"/>).</summary>
    public static RouteHandlerBuilder ProducesJsonDoorErrors(this RouteHandlerBuilder builder) => builder
        .Produces<ErrorBody>(StatusCodes.Status401Unauthorized)
        .Produces<ErrorBody>(StatusCodes.Status403Forbidden)
        .Produces<ErrorsBody>(StatusCodes.Status413PayloadTooLarge)
        .Produces<ErrorsBody>(StatusCodes.Status422UnprocessableEntity)
        .Produces<ErrorBody>(StatusCodes.Status503ServiceUnavailable);
}
