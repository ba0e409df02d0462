namespace Beacon.Ingestion.Intake;

/// <summary>The queue (Redis) did not acknowledge the batch: nothing of it may be reported as stored (503 / UNAVAILABLE).</summary>
public sealed class QueueUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What a client should wait before retrying.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
}
