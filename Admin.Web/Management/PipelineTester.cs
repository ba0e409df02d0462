using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Webhooks;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Admin.Management;

/// <summary>
/// What "send test event" saw: the request as sent (URL, signed headers, body) and the destination's status and how
/// long it took, never its answer. A button that showed the body would read internal services for whoever can point
/// a pipeline at them (an SSRF oracle).
/// </summary>
public sealed record TestEventResult(bool Succeeded, int? StatusCode, string Outcome, string? Error, double LatencyMs, TestRequest? Request = null);

/// <summary>The test request: where it went, its headers (Standard Webhooks signature included) and its JSON body.</summary>
public sealed record TestRequest(string Url, IReadOnlyDictionary<string, string> Headers, string Body, IReadOnlyList<string> EventIds);

/// <summary>
/// Sends a signed test to a webhook pipeline through the worker's own <see cref="WebhookSender"/> (same signing, same
/// SSRF guard and store scope), so a success here means real deliveries work: one made-up <c>page_view</c>, or real
/// events of the store picked from the archive (<see cref="SendEventsAsync"/>).
/// </summary>
public sealed class PipelineTester(
    WebhookSender sender, DestinationGuard guard, WebhookSecretProtector secrets, TimeProvider time, ILogger<PipelineTester> logger)
{
    public const string TestEventType = "page_view";

    public async Task<TestEventResult> SendAsync(Pipeline pipeline, Store store, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var envelope = new EnrichedEvent
        {
            Event = new Event
            {
                EventId = "test_" + Guid.CreateVersion7().ToString("N"),
                EventType = TestEventType,
                Timestamp = Timestamp.FromDateTimeOffset(now),
                SessionId = "beacon-test-session",
                ShoppingChannel = "web",
            },
            StoreId = pipeline.StoreId.ToString(),
            Source = "admin-test",
            ReceivedAt = Timestamp.FromDateTimeOffset(now),
        };
        return await SendEventsAsync(pipeline, store, [envelope], cancellationToken);
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
        // With a status, the error text would carry the destination's own reason phrase: the status alone is shown.
        var error = result.StatusCode is { } status ? (result.Delivered ? null : $"HTTP {status}") : result.Error;
        var request = new TestRequest(url.ToString(), new Dictionary<string, string>
        {
            ["content-type"] = "application/json",
            [WebhookSigner.IdHeader] = batchId,
            [WebhookSigner.TimestampHeader] = result.SentTimestamp.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [WebhookSigner.SignatureHeader] = result.SentSignature,
        }, System.Text.Encoding.UTF8.GetString(body), events.Select(e => e.Event?.EventId ?? "").ToList());
        return new TestEventResult(result.Delivered, result.StatusCode, result.Outcome.ToString(), error,
            Math.Round(result.Latency.TotalMilliseconds, 1), request);
    }
}
