using Beacon.Core.Queue;
using Beacon.Ingestion.Intake;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// <c>Queue:ReplicaAcks</c> = N: after an append, <c>WAIT N timeout</c> on the master that holds the stream, so a
/// request is answered 2xx only once N replicas have the events and a failover cannot lose them. Fewer acks in time:
/// <see cref="QueueUnavailableException"/> (503), and the client retries; its event ids make a repeat harmless.
/// </summary>
/// <remarks>
/// WAIT counts the writes of the connection it is sent on; StackExchange.Redis sends every command to a server over
/// one connection, so the WAIT after an append covers it (and everything appended before it on that connection).
/// </remarks>
public sealed class ReplicaAcks(IConnectionMultiplexer redis, IOptions<QueueOptions> options)
{
    private readonly int _required = Math.Max(0, options.Value.ReplicaAcks);
    private readonly long _timeoutMilliseconds = Math.Max(1, (long)options.Value.ReplicaAckTimeout.TotalMilliseconds);

    public bool Enabled => _required > 0;

    /// <summary>Returns once <c>Queue:ReplicaAcks</c> replicas have what was appended to <paramref name="stream"/>.</summary>
    /// <exception cref="QueueUnavailableException">Fewer replicas acknowledged within <c>Queue:ReplicaAckTimeout</c>.</exception>
    public async Task ConfirmAsync(RedisKey stream)
    {
        var master = redis.GetServer(redis.GetDatabase().IdentifyEndpoint(stream)
            ?? throw new QueueUnavailableException("No Redis server holds the event stream."));
        var acked = (long)await master.ExecuteAsync("WAIT", _required, _timeoutMilliseconds);
        if (acked < _required)
        {
            throw new QueueUnavailableException($"{acked} of {_required} Redis replicas acknowledged the append within {_timeoutMilliseconds} ms.");
        }
    }
}
