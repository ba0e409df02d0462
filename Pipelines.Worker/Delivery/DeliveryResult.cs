using Beacon.Core.Data;
using Beacon.Protos.Queue;

namespace Beacon.Worker.Delivery;

public enum DeliveryOutcome
{
    Delivered,
    /// <summary>Worth another attempt later (5xx, 408, 429, timeout, connection error, database unavailable).</summary>
    Retry,
    /// <summary>Final: the destination refused the events (other 4xx, SSRF refusal, unusable data).</summary>
    GiveUp,
}

/// <summary>
/// What one delivery attempt of a batch gave. A <see cref="DeliveryOutcome.Delivered"/> batch may still have
/// <see cref="Rejected"/> events (with <see cref="Error"/>): the destination took all the others, these go to the
/// dead letters.
/// </summary>
public sealed record DeliveryResult(
    DeliveryOutcome Outcome, TimeSpan Latency, int? Status = null, string? Error = null, string? ResponseExcerpt = null,
    TimeSpan? RetryAfter = null, IReadOnlyList<EnrichedEvent>? Rejected = null);

/// <summary>A kind of pipeline: takes a batch of one pipeline's events and says how it went. Never retries by itself.</summary>
public interface IPipelineDestination
{
    string Kind { get; }

    /// <summary>Events per batch for this kind.</summary>
    int BatchSize { get; }

    TimeSpan Linger { get; }

    /// <summary>The most batches of one pipeline a lane sends at once when it is behind (<see cref="LaneConcurrency"/>).</summary>
    int MaxConcurrentBatches { get; }

    Task<DeliveryResult> DeliverAsync(Pipeline pipeline, Guid batchId, IReadOnlyList<EnrichedEvent> events, CancellationToken cancellationToken);
}
