using Beacon.Core.Catalog;
using Beacon.Ingestion.Apis.Json;
using Beacon.Ingestion.Ingestion;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Ingestion.Apis;

/// <summary><c>POST /api/v1/events</c>: the Alana Shopping events API contract (DESIGN §3), camelCase bodies.</summary>
public static class AlanaEventsApi
{
    public const string KeyHeader = "x-api-key";

    public static IEndpointRouteBuilder MapAlanaEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/events").WithTags("Events (Alana)");

        api.MapPost("", PostEvents)
            .WithName("PostAlanaEvents")
            .WithSummary("Ingest a batch of 1-100 Alana shopping events")
            .WithDescription("Key in the x-api-key header or ?key=. Rate limited per key and per key + client IP (429 with Retry-After). " +
                             "Invalid events are dropped and counted in errors; stored counts events durably queued.")
            .DocumentsJsonBody<BeaconBatchDocument>()
            .Produces<AlanaResponse>(StatusCodes.Status200OK)
            .Produces<ErrorBody>(StatusCodes.Status401Unauthorized)
            .Produces<ErrorBody>(StatusCodes.Status403Forbidden)
            .Produces<ErrorsBody>(StatusCodes.Status413PayloadTooLarge)
            .Produces<ErrorsBody>(StatusCodes.Status422UnprocessableEntity)
            .Produces<ErrorBody>(StatusCodes.Status429TooManyRequests)
            .Produces<ErrorBody>(StatusCodes.Status503ServiceUnavailable);

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
            EventFamily.Alana, IngestSources.V1Events, rateLimited: true);
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
