namespace Beacon.Core.Delivery;

/// <summary>
/// When a failed webhook is tried again (DESIGN §4): Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the
/// previous failure) with jitter so a recovering destination is not hit by everything at once, or the destination's own
/// Retry-After when it sent one. The worker's batches and Admin.Web's deletion notices follow it alike.
/// </summary>
public static class RetrySchedule
{
    public static readonly IReadOnlyList<TimeSpan> Standard =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>How long after <paramref name="attemptsMade"/> failed attempts the next one is due; null when they are used up.</summary>
    /// <param name="schedule">Delays after each failed attempt; empty is <see cref="Standard"/>.</param>
    /// <param name="jitter">The delay varies by up to this fraction either way (0.2: ±20%).</param>
    public static TimeSpan? DelayAfter(int attemptsMade, IReadOnlyList<TimeSpan> schedule, double jitter, TimeSpan? retryAfter, TimeSpan maxRetryAfter)
    {
        schedule = schedule.Count > 0 ? schedule : Standard;
        var index = attemptsMade - 1;
        if (index < 0 || index >= schedule.Count)
        {
            return null;
        }
        if (retryAfter is { } wait)
        {
            return wait > maxRetryAfter ? maxRetryAfter : wait;
        }
        return schedule[index] * (1 + jitter * (2 * Random.Shared.NextDouble() - 1));
    }
}
