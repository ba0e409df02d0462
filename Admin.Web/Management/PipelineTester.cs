using Beacon.Core.Data;
using Beacon.Core.Webhooks;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Admin.Management;

/// <summary>What "send test event" saw: the destination's status and the start of its answer.</summary>
public sealed record TestEventResult(bool Succeeded, int? StatusCode, string Outcome, string? ResponseExcerpt, string? Error, double LatencyMs);

/// <summary>
/// Sends one signed <c>page_view</c> test event to a webhook pipeline through the worker's own
/// <see cref="WebhookSender"/> (same signing, same SSRF guard), so a success here means real deliveries work.
/// </summary>
public sealed class PipelineTester(WebhookSender sender, TimeProvider time, ILogger<PipelineTester> logger)
{
    public const string TestEventType = "page_view";

    public async Task<TestEventResult> SendAsync(Pipeline pipeline, CancellationToken cancellationToken)
    {
        if (pipeline.Kind != PipelineKinds.Webhook || !Uri.TryCreate(pipeline.Url, UriKind.Absolute, out var url))
        {
            return new TestEventResult(false, null, "NotAWebhook", null, "Only webhook pipelines can be sent a test event.", 0);
        }

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
        var batchId = WebhookPayload.NewBatchId();
        var body = WebhookPayload.Serialize(batchId, [envelope]);
        var result = await sender.SendAsync(new WebhookRequest(url, batchId, body, WebhookSecrets.Of(pipeline)), cancellationToken);

        logger.LogInformation("Test event to pipeline {PipelineId}: {Outcome} {Status}", pipeline.Id, result.Outcome, result.StatusCode);
        return new TestEventResult(result.Delivered, result.StatusCode, result.Outcome.ToString(), result.ResponseExcerpt,
            result.Error, Math.Round(result.Latency.TotalMilliseconds, 1));
    }
}
