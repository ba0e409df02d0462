using System.Buffers;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Readiness;
using Microsoft.Extensions.Primitives;

namespace Beacon.Ingestion.Apis.Json;

/// <summary>
/// The steps both JSON doors share, in contract order: the one admission step (<see cref="Admitter"/>: 401, 403,
/// 429), body size (413), top-level shape (422), then the one ingestion path. Only the token's source, the
/// event family and the success body differ between <c>/beacon</c> and <c>/api/v1/events</c>.
/// <para>
/// Nothing here observes <see cref="HttpContext.RequestAborted"/>: a body that has arrived is ingested even when its
/// client is gone before the answer (DESIGN §3: a <c>sendBeacon</c> at tab close cannot retry what it never knew
/// failed; event ids make a repeat harmless). Kestrel fires that token on the client's FIN, possibly before the body
/// was read from its buffer, and a read with it would then throw although every byte is there. A body that never
/// arrives still ends the read: Kestrel fails it when the connection goes, or when it falls below the minimum data rate.
/// </para>
/// </summary>
public static class JsonDoor
{
    // A one-page beacon fits; 5,000 requests waiting for their bodies hold 20 MB of buffers at most.
    private const int InitialBodyBuffer = 4 * 1024;

    /// <summary>The outcome: an error result to send as is, or the ingested batch.</summary>
    public readonly record struct Outcome(IResult? Error, IngestResult? Result, bool DryRun);

    public static async Task<Outcome> IngestAsync(
        HttpContext context, IngestionServices services, string? token, EventFamily family, string source, DoorLimits limits)
    {
        var origin = context.Request.Headers.Origin.ToString();
        var client = services.ClientInfo.Read(context);
        var admission = await services.Admitter.AdmitAsync(token, origin, client.IpAddress, limits, CancellationToken.None);
        if (admission.Token is { Rehearsal: true })
        {
            IngestionWarmUp.ExcludeFromMetrics(context);
        }
        switch (admission.Verdict)
        {
            case AdmissionVerdict.TokenStoreUnavailable:
                return Fail(Unavailable(context, "The token store is unavailable; retry shortly."));
            case AdmissionVerdict.Unauthenticated:
                return Fail(TypedResults.Json(new ErrorBody("Unauthenticated"), IngestionJsonContext.Default.ErrorBody, statusCode: 401));
            case AdmissionVerdict.OriginRefused:
                return Fail(TypedResults.Json(new ErrorBody("Origin not allowed"), IngestionJsonContext.Default.ErrorBody, statusCode: 403));
        }
        if (origin.Length > 0)
        {
            AllowOrigin(context.Response, origin);
        }
        if (admission.Verdict == AdmissionVerdict.LimiterUnavailable)
        {
            return Fail(Unavailable(context, "The event queue is unavailable; retry shortly."));
        }
        if (admission.Verdict == AdmissionVerdict.Limited)
        {
            context.Response.Headers.RetryAfter = Math.Ceiling(admission.RetryAfter.TotalSeconds).ToString("0");
            return Fail(TypedResults.Json(new ErrorBody("Too many requests"), IngestionJsonContext.Default.ErrorBody, statusCode: 429));
        }
        var storeToken = admission.Token!;

        var options = services.Options.Value;
        var (buffer, length) = await ReadBodyAsync(context.Request, options.MaxBodyBytes);
        if (buffer is null)
        {
            return Fail(TypedResults.Json(new ErrorsBody([$"The body is larger than {options.MaxBodyBytes} bytes; send fewer or smaller events."]),
                IngestionJsonContext.Default.ErrorsBody, statusCode: 413));
        }
        JsonBatch batch;
        try
        {
            if (!storeToken.Rehearsal)
            {
                services.Metrics.RequestSize(source, length);
            }
            batch = JsonBatchReader.Read(buffer.AsSpan(0, length), family, options.MaxEventsPerBatch);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (batch.Errors.Count > 0)
        {
            return Fail(TypedResults.UnprocessableEntity(new ErrorsBody(batch.Errors)));
        }

        var dryRun = IsTrue(context.Request.Query["validate"]);
        try
        {
            var result = await services.Pipeline.IngestAsync(
                new IngestRequest(storeToken, source, family, batch.Events, client, dryRun));
            return new Outcome(null, result, dryRun);
        }
        catch (QueueUnavailableException)
        {
            return Fail(Unavailable(context, "The event queue is unavailable; nothing was stored, retry shortly."));
        }
    }

    /// <summary>Per index: accepted, or the reason the event would be dropped.</summary>
    public static ValidationReport Report(IngestResult result, int count)
    {
        var results = new ValidationResult[count];
        for (var i = 0; i < count; i++)
        {
            results[i] = new ValidationResult(i, "accepted");
        }
        foreach (var rejection in result.Rejections)
        {
            results[rejection.Index] = new ValidationResult(rejection.Index, "rejected", rejection.Reason);
        }
        return new ValidationReport(count - result.Rejected, result.Rejected, results);
    }

    /// <summary>
    /// Preflight: the token is not known yet (browsers send no custom headers with it), so any origin is answered;
    /// the real request is checked against the token's allowed origins.
    /// </summary>
    public static IResult Preflight(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString();
        var headers = context.Response.Headers;
        if (origin.Length > 0)
        {
            AllowOrigin(context.Response, origin);
        }
        headers.AccessControlAllowMethods = "POST, OPTIONS";
        var requested = context.Request.Headers.AccessControlRequestHeaders;
        headers.AccessControlAllowHeaders = StringValues.IsNullOrEmpty(requested)
            ? "Content-Type, X-Storefront-Access-Token, X-Requested-With, x-api-key"
            : requested;
        headers.AccessControlMaxAge = "86400";
        return TypedResults.NoContent();
    }

    private static void AllowOrigin(HttpResponse response, string origin)
    {
        response.Headers.AccessControlAllowOrigin = origin;
        response.Headers.AccessControlAllowCredentials = "true";
        // Lets browser clients (the SDK) honour the server's back-off on 429 and 503.
        response.Headers.AccessControlExposeHeaders = "Retry-After";
        response.Headers.Vary = "Origin";
    }

    private static IResult Unavailable(HttpContext context, string message)
    {
        context.Response.Headers.RetryAfter = ((int)QueueUnavailableException.RetryAfter.TotalSeconds).ToString();
        return TypedResults.Json(new ErrorBody(message), IngestionJsonContext.Default.ErrorBody, statusCode: 503);
    }

    private static Outcome Fail(IResult error) => new(error, null, false);

    private static bool IsTrue(StringValues value) =>
        value.Count > 0 && (value[0] is "1" or "" || string.Equals(value[0], "true", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Reads the whole body into a pooled buffer, whatever the Content-Type (<c>sendBeacon</c> sends
    /// <c>text/plain</c>). Returns a null buffer when it is over <paramref name="limit"/> bytes.
    /// </summary>
    private static async Task<(byte[]? Buffer, int Length)> ReadBodyAsync(HttpRequest request, int limit)
    {
        if (request.ContentLength > limit)
        {
            return (null, 0);
        }
        // The buffer grows (x2) with the bytes that arrive: a declared Content-Length alone (thousands of slow clients
        // each announcing 1 MiB) must not pin memory. A small body still gets one exact buffer.
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Min(request.ContentLength + 1 ?? InitialBodyBuffer, InitialBodyBuffer), limit + 1L));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return (null, 0);
                    }
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(buffer.Length * 2L, limit + 1L));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = await request.Body.ReadAsync(buffer.AsMemory(length));
                if (read == 0)
                {
                    break;
                }
                length += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        if (length > limit)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return (null, 0);
        }
        return (buffer, length);
    }
}
