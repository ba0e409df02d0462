using Microsoft.Extensions.Options;

namespace Beacon.Worker.Delivery;

/// <summary>
/// When the next attempt of a failed batch is due: Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after
/// the previous failure) with ±20% jitter so a recovering destination is not hit by every batch at once, or the
/// destination's own Retry-After when it sent one.
/// </summary>
public sealed class RetryPlanner(TimeProvider time, IOptions<WorkerOptions> options)
{
    /// <summary>Due time of the next attempt after <paramref name="attemptsMade"/> failed ones; null when they are used up.</summary>
    public DateTimeOffset? NextAttemptAt(int attemptsMade, TimeSpan? retryAfter)
    {
        var schedule = options.Value.EffectiveRetrySchedule;
        var index = attemptsMade - 1;
        if (index < 0 || index >= schedule.Count)
        {
            return null;
        }
        var now = time.GetUtcNow();
        if (retryAfter is { } wait)
        {
            return now + (wait > options.Value.MaxRetryAfter ? options.Value.MaxRetryAfter : wait);
        }
        var jitter = options.Value.RetryJitter;
        var factor = 1 + jitter * (2 * Random.Shared.NextDouble() - 1);
        return now + schedule[index] * factor;
    }

}
