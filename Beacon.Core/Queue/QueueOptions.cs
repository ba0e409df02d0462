namespace Beacon.Core.Queue;

/// <summary>Settings of the event stream (configuration section <c>Queue</c>), shared by ingestion and the worker.</summary>
public sealed class QueueOptions
{
    public const string Section = "Queue";

    /// <summary>Number of stream partitions (stores are hashed onto them); raise for Redis Cluster.</summary>
    public int Partitions { get; set; } = 1;

    /// <summary>Approximate number of entries kept per partition after delivery (XTRIM MINID keeps unacked ones).</summary>
    public long MaxLength { get; set; } = 1_000_000;
}
