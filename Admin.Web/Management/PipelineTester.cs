using Beacon.Core.Catalog;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Delivery;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Admin.Management;

/// <summary>
/// What "send test event" saw: the request as sent (URL, signed headers, body) and the destination's answer: status,
/// how long it took and <see cref="TestResponse"/>.
/// </summary>
public sealed record TestEventResult(bool Succeeded, int? StatusCode, string Outcome, string? Error, double LatencyMs, TestRequest? Request = null,
    TestResponse? Response = null);

/// <summary>The test request: where it went, its headers (Standard Webhooks signature included) and its JSON body.</summary>
public sealed record TestRequest(string Url, IReadOnlyDictionary<string, string> Headers, string Body, IReadOnlyList<string> EventIds);

/// <summary>
/// What the destination answered, as far as it is safe to show: its media type and declared length, and the first
/// <c>Delivery:ResponseExcerptLength</c> characters (1 KB) of a text answer (<c>text/*</c>, JSON, XML, forms; null for
/// anything else or an empty body). The answer can only come from an address the store's webhooks may reach (the
/// <see cref="DestinationGuard"/> refuses the rest at connect time, before a byte is sent), so it reveals what dead
/// letters already keep of failed answers from the same destinations, and nothing of the operator's network.
/// </summary>
public sealed record TestResponse(string? ContentType, long? ContentLength, string? BodyExcerpt)
{
    public static TestResponse Of(WebhookResult result) =>
        new(result.ContentType, result.ContentLength, IsText(result.ContentType) ? result.ResponseExcerpt : null);

    private static bool IsText(string? mediaType) => mediaType is { } type && (
        type.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
        || type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
        || type.Equals("application/xml", StringComparison.OrdinalIgnoreCase)
        || type.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
        || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase)
        || type.EndsWith("+xml", StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// Sends a signed test to a webhook pipeline through the worker's own <see cref="WebhookSender"/> (same signing, same
/// SSRF guard and store scope), so a success here means real deliveries work: one made-up <c>page_view</c>, an event
/// pasted as JSON (<see cref="Pasted"/>), or real events of the store picked from the archive (<see cref="SendEventsAsync"/>).
/// </summary>
public sealed class PipelineTester(
    WebhookSender sender, DestinationGuard guard, WebhookSecretProtector secrets, TimeProvider time, ILogger<PipelineTester> logger)
{
    public const string TestEventType = "page_view";

    public async Task<TestEventResult> SendAsync(Pipeline pipeline, Store store, CancellationToken cancellationToken)
    {
        var made = new Event
        {
            EventType = TestEventType,
            Timestamp = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
            SessionId = "beacon-test-session",
        };
        return await SendEventsAsync(pipeline, store, [Envelope(pipeline, made)], cancellationToken);
    }

    /// <summary>
    /// An event pasted as JSON in the shape of a <c>POST /beacon</c> event, read and validated exactly as ingestion
    /// reads and validates one (<see cref="EventJsonReader.ReadOne"/>): the envelope to send, or why ingestion would
    /// drop it. It was never received over HTTP, so it carries no enrichment; without an <c>event_id</c> it gets one.
    /// </summary>
    public (EnrichedEvent? Envelope, string? Error) Pasted(Pipeline pipeline, string json)
    {
        var (pasted, error) = EventJsonReader.ReadOne(json, EventFamily.Layers);
        return pasted is null ? (null, error) : (Envelope(pipeline, pasted), null);
    }

    private EnrichedEvent Envelope(Pipeline pipeline, Event e)
    {
        if (e.EventId.Length == 0)
        {
            e.EventId = "test_" + Guid.CreateVersion7().ToString("N");
        }
        if (e.ShoppingChannel.Length == 0)
        {
            e.ShoppingChannel = "web";
        }
        return new EnrichedEvent
        {
            Event = e,
            StoreId = pipeline.StoreId.ToString(),
            Source = "admin-test",
            ReceivedAt = Timestamp.FromDateTimeOffset(time.GetUtcNow()),
        };
    }

    /// <summary>Sends these events (e.g. real ones from the archive) as one batch, exactly as the worker would.</summary>
    public async Task<TestEventResult> SendEventsAsync(Pipeline pipeline, Store store, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        if (pipeline.Kind != PipelineKinds.Webhook || !Uri.TryCreate(pipeline.Url, UriKind.Absolute, out var url))
        {
            return new TestEventResult(false, null, "NotAWebhook", "Only webhook pipelines can be sent a test event.", 0);
        }
        var scope = guard.ScopeFor(store.AllowedPrivateNetworks);
        if (DestinationGuard.ValidateUrl(pipeline.Url, scope) is { } invalid)
        {
            return new TestEventResult(false, null, nameof(WebhookOutcome.Refused), invalid, 0);
        }
        var batchId = WebhookPayload.NewBatchId();
        var body = WebhookPayload.Serialize(batchId, events, IdentifierHasher.For(pipeline, store));
        var result = await sender.SendAsync(new WebhookRequest(url, batchId, body, secrets.SecretsOf(pipeline), scope), cancellationToken);

        logger.LogInformation("Test of {Count} events to pipeline {PipelineId}: {Outcome} {Status}", events.Count, pipeline.Id, result.Outcome, result.StatusCode);
        var request = new TestRequest(url.ToString(), new Dictionary<string, string>
        {
            ["content-type"] = "application/json",
            [WebhookSigner.IdHeader] = batchId,
            [WebhookSigner.TimestampHeader] = result.SentTimestamp.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [WebhookSigner.SignatureHeader] = result.SentSignature,
        }, System.Text.Encoding.UTF8.GetString(body), events.Select(e => e.Event?.EventId ?? "").ToList());
        return new TestEventResult(result.Delivered, result.StatusCode, result.Outcome.ToString(), result.Error,
            Math.Round(result.Latency.TotalMilliseconds, 1), request, result.StatusCode is null ? null : TestResponse.Of(result));
    }
}
