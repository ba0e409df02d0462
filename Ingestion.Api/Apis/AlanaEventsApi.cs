using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Intake;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Ingestion.Apis;

/// <summary><c>POST /api/v1/events</c>: the Alana Shopping events API contract (DESIGN §3), camelCase bodies.</summary>
public static class AlanaEventsApi
{
    public const string Path = "/api/v1/events";
    public const string KeyHeader = "x-api-key";

    private const string AlanaExample = """
        {"events":[
         {"eventType":"detail-page-view","visitorId":"v-123","productId":"8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"},
         {"eventType":"purchase-complete","visitorId":"v-123","productIds":["8c2f8f0e-4f43-4c36-9a55-1d1f3c5b7a10"],"revenue":59.5,"currency":"EUR"}]}
        """;

    public static IEndpointRouteBuilder MapAlanaEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(Path).WithTags("Events (Alana)");

        api.MapPost("", PostEvents)
            .WithName("PostAlanaEvents")
            .WithSummary("Ingest a batch of 1-100 Alana shopping events")
            .WithDescription("Key in the x-api-key header or ?key=. Rate limited per key and per key + client IP (429 with Retry-After). " +
                             "Invalid events are dropped and counted in errors; stored counts events durably queued.")
            .DocumentsJsonBody<BeaconBatchDocument>(AlanaExample)
            .Produces<AlanaResponse>(StatusCodes.Status200OK)
            .ProducesJsonDoorErrors()
            .Produces<ErrorBody>(StatusCodes.Status429TooManyRequests);

        api.MapMethods("", ["OPTIONS"], JsonDoor.Preflight)
            .WithName("PreflightAlanaEvents")
            .Produces(StatusCodes.Status204NoContent);

        return app;
    }

    public static async Task<IResult> PostEvents(
        HttpContext context,
        [AsParameters] IngestionServices services,
        [FromHeader(Name = KeyHeader)] string? headerKey,
        [FromQuery] string? key,
        [FromQuery] string? validate)
    {
        var outcome = await JsonDoor.IngestAsync(context, services, string.IsNullOrEmpty(headerKey) ? key : headerKey,
            EventFamily.Alana, IngestSources.V1Events, DoorLimits.Alana);
        if (outcome.Error is not null)
        {
            return outcome.Error;
        }
        var result = outcome.Result!;
        return outcome.DryRun
            ? TypedResults.Ok(JsonDoor.Report(result, result.Accepted + result.Rejected))
            : TypedResults.Ok(new AlanaResponse("ok", result.Accepted, result.Rejected));
    }
}
