namespace Beacon.Ingestion.Grpc;

/// <summary>Settings of the gRPC door (configuration section <c>Grpc</c>).</summary>
public sealed class GrpcIngestOptions
{
    public const string Section = "Grpc";

    /// <summary>
    /// Largest message accepted or sent. A full batch of 100 events is typically 20-50 KB; the default matches the
    /// JSON door's 1 MiB body limit so neither door admits a batch the other would refuse for size.
    /// </summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Idle time after which the server pings a connection. Mobile carriers' NATs drop idle TCP mappings after
    /// 30 s to a few minutes; a ping every 20 s keeps a quiet app's stream open and finds dead peers.
    /// </summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A peer that does not answer a ping within this time is disconnected.</summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Concurrent calls per HTTP/2 connection (one app normally needs one stream).</summary>
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>HPACK dynamic table per connection (the HTTP/2 default): gRPC metadata is a handful of headers.</summary>
    public int HeaderTableSize { get; set; } = 4096;

    /// <summary>Largest HTTP/2 frame accepted (the protocol's minimum, 16 KiB): a batch arrives in several frames.</summary>
    public int MaxFrameSize { get; set; } = 16 * 1024;

    /// <summary>Largest single header (HPACK-decoded), e.g. the token metadata.</summary>
    public int MaxRequestHeaderFieldSize { get; set; } = 8 * 1024;

    /// <summary>
    /// Batches of one stream being appended to Redis at the same time. Acks still go out in order; overlapping
    /// the appends lets a fast client fill the group commit instead of waiting one round trip per batch.
    /// </summary>
    public int MaxBatchesInFlight { get; set; } = 16;
}
