using Beacon.Core.Delivery;
using Microsoft.Extensions.Options;

namespace Beacon.Worker.Delivery;

/// <summary>When the next attempt of a failed batch is due (<see cref="RetrySchedule"/>, as configured for the worker).</summary>
public sealed class RetryPlanner(TimeProvider time, IOptions<WorkerOptions> options)
{
    /// <summary>Due time of the next attempt after <paramref name="attemptsMade"/> failed ones; null when they are used up.</summary>
    public DateTimeOffset? NextAttemptAt(int attemptsMade, TimeSpan? retryAfter)
    {
        var settings = options.Value;
        return RetrySchedule.DelayAfter(attemptsMade, settings.EffectiveRetrySchedule, settings.RetryJitter, retryAfter, settings.MaxRetryAfter) is { } delay
            ? time.GetUtcNow() + delay
            : null;
    }
}
