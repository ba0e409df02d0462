using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Intake;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Ingestion.Apis;

/// <summary><c>POST /beacon</c>: the Layers Tracking API contract (DESIGN §3).</summary>
public static class BeaconApi
{
    public const string Path = "/beacon";
    public const string TokenHeader = "X-Storefront-Access-Token";

    private const string BeaconExample = """
        {"events":[
         {"event_type":"product_click","timestamp":"2025-01-15T14:30:00Z","session_id":"abc123","device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd","product_id":7003338965178,"position":3},
         {"event_type":"collection_view","timestamp":"2025-01-15T14:29:45Z","session_id":"abc123","device_id":"device-uuid","collection_handle":"summer-collection"}]}
        """;

    public static IEndpointRouteBuilder MapBeaconApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(Path).WithTags("Beacon (Layers)");

        api.MapPost("", PostEvents)
            .WithName("PostBeacon")
            .WithSummary("Ingest a batch of 1-100 storefront events")
            .WithDescription("Token in the X-Storefront-Access-Token header, else ?token= (the header wins). The body is read as JSON " +
                             "whatever the Content-Type (text/plain from sendBeacon included). Invalid events are dropped one by one; " +
                             "201 with body null once every accepted event is durably queued. ?validate=1 is a dry run. " +
                             "Rate limited per token and per token + client IP (429 with Retry-After).")
            .DocumentsJsonBody<BeaconBatchDocument>(BeaconExample)
            .Produces(StatusCodes.Status201Created, contentType: "application/json")
            .Produces<ValidationReport>(StatusCodes.Status200OK)
            .ProducesJsonDoorErrors()
            .Produces<ErrorBody>(StatusCodes.Status429TooManyRequests);

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
            EventFamily.Layers, IngestSources.Beacon, DoorLimits.Storefront);
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
