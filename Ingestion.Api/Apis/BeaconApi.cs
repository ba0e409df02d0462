using Beacon.Core.Catalog;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Ingestion;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Ingestion.Apis;

/// <summary><c>POST /beacon</c>: the Layers Tracking API contract (DESIGN §3).</summary>
public static class BeaconApi
{
    public const string TokenHeader = "X-Storefront-Access-Token";

    public static IEndpointRouteBuilder MapBeaconApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/beacon").WithTags("Beacon (Layers)");

        api.MapPost("", PostEvents)
            .WithName("PostBeacon")
            .WithSummary("Ingest a batch of 1-100 storefront events")
            .WithDescription("Token in the X-Storefront-Access-Token header, else ?token= (the header wins). The body is read as JSON " +
                             "whatever the Content-Type (text/plain from sendBeacon included). Invalid events are dropped one by one; " +
                             "201 with body null once every accepted event is durably queued. ?validate=1 is a dry run.")
            .DocumentsJsonBody<BeaconBatchDocument>()
            .Produces(StatusCodes.Status201Created, contentType: "application/json")
            .Produces<ValidationReport>(StatusCodes.Status200OK)
            .Produces<ErrorBody>(StatusCodes.Status401Unauthorized)
            .Produces<ErrorBody>(StatusCodes.Status403Forbidden)
            .Produces<ErrorsBody>(StatusCodes.Status413PayloadTooLarge)
            .Produces<ErrorsBody>(StatusCodes.Status422UnprocessableEntity)
            .Produces<ErrorBody>(StatusCodes.Status503ServiceUnavailable);

        api.MapMethods("", ["OPTIONS"], JsonDoor.Preflight)
            .WithName("PreflightBeacon")
            .WithSummary("CORS preflight, answered for any origin")
            .Produces(StatusCodes.Status204NoContent);

        return app;
    }

    public static async Task<IResult> PostEvents(
        HttpContext context,
        [AsParameters] IngestionServices services,
        [FromHeader(Name = TokenHeader)] string? headerToken,
        [FromQuery] string? token,
        [FromQuery] string? validate)
    {
        var outcome = await JsonDoor.IngestAsync(context, services, string.IsNullOrEmpty(headerToken) ? token : headerToken,
            EventFamily.Layers, IngestSources.Beacon, rateLimited: false);
        if (outcome.Error is not null)
        {
            return outcome.Error;
        }
        var result = outcome.Result!;
        return outcome.DryRun
            ? TypedResults.Ok(JsonDoor.Report(result, result.Accepted + result.Rejected))
            : TypedResults.Text("null", "application/json", statusCode: StatusCodes.Status201Created);
    }
}
