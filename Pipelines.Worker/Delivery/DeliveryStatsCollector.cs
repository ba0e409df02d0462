namespace Beacon.Worker.Delivery;

/// <summary>
/// Per-pipeline, per-minute delivery counts and latency samples gathered in memory until
/// <see cref="DeliveryStatsWriter"/> writes them.
/// </summary>
public sealed class DeliveryStatsCollector(TimeProvider time)
{
    private const int MaxSamplesPerMinute = 2048;
    private readonly Lock _lock = new();
    private Dictionary<(Guid PipelineId, DateTimeOffset Minute), StatsBucket> _buckets = [];

    public void Record(Guid pipelineId, long delivered = 0, long failed = 0, long retried = 0, long deadLettered = 0, TimeSpan? latency = null,
        long consentMissing = 0)
    {
        var now = time.GetUtcNow();
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        lock (_lock)
        {
            if (!_buckets.TryGetValue((pipelineId, minute), out var bucket))
            {
                _buckets[(pipelineId, minute)] = bucket = new StatsBucket();
            }
            bucket.Delivered += delivered;
            bucket.Failed += failed;
            bucket.Retried += retried;
            bucket.DeadLettered += deadLettered;
            bucket.ConsentMissing += consentMissing;
            if (latency is { } value)
            {
                bucket.AddSample(value.TotalMilliseconds, MaxSamplesPerMinute);
            }
        }
    }

    /// <summary>Takes everything gathered so far, leaving the collector empty.</summary>
    public IReadOnlyList<(Guid PipelineId, DateTimeOffset Minute, StatsBucket Bucket)> TakeAll()
    {
        Dictionary<(Guid, DateTimeOffset), StatsBucket> taken;
        lock (_lock)
        {
            taken = _buckets;
            _buckets = [];
        }
        return taken.Select(pair => (pair.Key.Item1, pair.Key.Item2, pair.Value)).ToList();
    }

    /// <summary>Puts back what could not be written, so a Postgres outage loses no counts.</summary>
    public void Restore(IEnumerable<(Guid PipelineId, DateTimeOffset Minute, StatsBucket Bucket)> buckets)
    {
        lock (_lock)
        {
            foreach (var (pipelineId, minute, bucket) in buckets)
            {
                if (_buckets.TryGetValue((pipelineId, minute), out var existing))
                {
                    existing.Merge(bucket, MaxSamplesPerMinute);
                }
                else
                {
                    _buckets[(pipelineId, minute)] = bucket;
                }
            }
        }
    }
}

public sealed class StatsBucket
{
    private readonly List<double> _samples = [];
    private long _seen;

    public long Delivered { get; set; }
    public long Failed { get; set; }
    public long Retried { get; set; }
    public long DeadLettered { get; set; }
    public long ConsentMissing { get; set; }

    public void AddSample(double milliseconds, int max)
    {
        // Reservoir sampling keeps percentiles honest when a minute has more attempts than samples kept.
        _seen++;
        if (_samples.Count < max)
        {
            _samples.Add(milliseconds);
        }
        else if (Random.Shared.NextInt64(_seen) is var slot && slot < max)
        {
            _samples[(int)slot] = milliseconds;
        }
    }

    public void Merge(StatsBucket other, int max)
    {
        Delivered += other.Delivered;
        Failed += other.Failed;
        Retried += other.Retried;
        DeadLettered += other.DeadLettered;
        ConsentMissing += other.ConsentMissing;
        foreach (var sample in other._samples)
        {
            AddSample(sample, max);
        }
    }

    public double? Percentile(double p)
    {
        if (_samples.Count == 0)
        {
            return null;
        }
        var sorted = _samples.Order().ToArray();
        var index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
