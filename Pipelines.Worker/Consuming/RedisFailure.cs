using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>What a Redis call of the worker's loops may throw while Redis is down or stalled, to wait and retry on.</summary>
public static class RedisFailure
{
    /// <summary>
    /// A Redis error or timeout, or a cancellation that is not the worker stopping: when StackExchange.Redis gives up
    /// on a dead socket (e.g. Redis stalled for 20 s), it cancels the calls still waiting on it. Let through, such a
    /// cancellation ended the BackgroundService, and with it the whole worker (BackgroundServiceExceptionBehavior.StopHost).
    /// </summary>
    public static bool IsTransient(Exception ex, CancellationToken stoppingToken) =>
        ex is RedisException or TimeoutException || (ex is OperationCanceledException && !stoppingToken.IsCancellationRequested);
}
