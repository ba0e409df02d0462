using System.Security.Cryptography;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Delivery;
using Beacon.Protos.Queue;
using Microsoft.Extensions.Options;

namespace Beacon.Worker.Delivery.Webhooks;

/// <summary>
/// <c>webhook</c> pipelines: one signed POST per batch (Standard Webhooks). The <c>webhook-id</c> is the batch id,
/// the same on every retry of the batch, so receivers can drop repeats.
/// </summary>
public sealed class WebhookDestination(
    WebhookSender sender, DestinationGuard guard, WebhookSecretProtector secrets, IOptions<WorkerOptions> options) : IPipelineDestination
{
    public string Kind => PipelineKinds.Webhook;

    public int BatchSize => Math.Clamp(options.Value.WebhookBatchSize, 1, 100);

    public TimeSpan Linger => options.Value.WebhookLinger;

    public int MaxConcurrentBatches => options.Value.MaxConcurrentWebhookBatches;

    public async Task<DeliveryResult> DeliverAsync(
        Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken)
    {
        // The pipeline cache loads each pipeline with its store; without one the store's grants are unknown and
        // only public addresses are reached.
        var scope = guard.ScopeFor(pipeline.Store?.AllowedPrivateNetworks);
        if (DestinationGuard.ValidateUrl(pipeline.Url, scope) is { } invalid)
        {
            return new DeliveryResult(DeliveryOutcome.GiveUp, TimeSpan.Zero, Error: invalid);
        }
        WebhookSecrets signing;
        try
        {
            signing = secrets.SecretsOf(pipeline);
        }
        catch (CryptographicException)
        {
            // Sealed under another Beacon:MasterKey: retried, so the batch is delivered once the key is fixed.
            return new DeliveryResult(DeliveryOutcome.Retry, TimeSpan.Zero,
                Error: "The pipeline's signing secret does not open with this worker's Beacon:MasterKey");
        }
        var messageId = WebhookPayload.MessageIdOf(batchId);
        var body = WebhookPayload.Serialize(messageId, events, IdentifierHasher.For(pipeline));
        var result = await sender.SendAsync(
            new WebhookRequest(new Uri(pipeline.Url!), messageId, body, signing, scope), cancellationToken);
        var outcome = result.Outcome switch
        {
            WebhookOutcome.Delivered => DeliveryOutcome.Delivered,
            WebhookOutcome.Retry => DeliveryOutcome.Retry,
            _ => DeliveryOutcome.GiveUp,
        };
        return new DeliveryResult(outcome, result.Latency, result.StatusCode, result.Error, result.ResponseExcerpt, result.RetryAfter);
    }
}
