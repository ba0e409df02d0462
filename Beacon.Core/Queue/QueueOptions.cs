namespace Beacon.Core.Queue;

/// <summary>Settings of the event stream (configuration section <c>Queue</c>), shared by ingestion and the worker.</summary>
public sealed class QueueOptions
{
    public const string Section = "Queue";

    /// <summary>Number of stream partitions (stores are hashed onto them); raise for Redis Cluster.</summary>
    public int Partitions { get; set; } = 1;

    /// <summary>
    /// Replicas that must have an append before ingestion answers 2xx (Redis <c>WAIT</c>); 0 = the master alone.
    /// With replicas (Cluster or Sentinel) 1 makes a failover unable to lose an acknowledged event.
    /// </summary>
    public int ReplicaAcks { get; set; }

    /// <summary>How long ingestion waits for <see cref="ReplicaAcks"/>; fewer in time answers 503.</summary>
    public TimeSpan ReplicaAckTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Approximate number of entries kept per partition after delivery (XTRIM MINID keeps unacked ones).</summary>
    public long MaxLength { get; set; } = 1_000_000;
}
