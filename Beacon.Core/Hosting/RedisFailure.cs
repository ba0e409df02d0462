using System.Diagnostics;
using StackExchange.Redis;

namespace Beacon.Core.Hosting;

/// <summary>What a Redis call may throw while Redis is down, stalled or reconnecting: a loop waits and retries on it.</summary>
public static class RedisFailure
{
    private static readonly System.Reflection.Assembly[] ClientAssemblies =
        [typeof(IDatabase).Assembly, typeof(Pipelines.Sockets.Unofficial.SocketConnection).Assembly];

    /// <summary>
    /// A Redis error or timeout; a cancellation that is not the host stopping (when StackExchange.Redis gives up on a
    /// dead socket, e.g. Redis stalled for 20 s, it cancels the calls still waiting on it); or an invalid-operation or
    /// I/O error thrown from inside the client while it tears a connection down (seen: "Reading is not allowed after
    /// reader was completed" from its socket pipe after a stall). Let through, any of these ended the BackgroundService,
    /// and with it the whole host (BackgroundServiceExceptionBehavior.StopHost), which nothing restarts.
    /// </summary>
    public static bool IsTransient(Exception ex, CancellationToken stoppingToken) => ex switch
    {
        RedisException or TimeoutException => true,
        OperationCanceledException => !stoppingToken.IsCancellationRequested,
        InvalidOperationException or IOException or ObjectDisposedException => ThrownByClient(ex),
        _ => false,
    };

    private static bool ThrownByClient(Exception ex) =>
        new StackTrace(ex, fNeedFileInfo: false).GetFrames()
            .Any(frame => frame.GetMethod()?.DeclaringType?.Assembly is { } assembly && ClientAssemblies.Contains(assembly));
}
