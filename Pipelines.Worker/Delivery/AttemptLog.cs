using System.Threading.Channels;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Worker.Archive;
using Beacon.Worker.Routing;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Delivery;

/// <summary>One delivery attempt of a batch, as an event's trace and a pipeline's live view show it.</summary>
public sealed record AttemptRecord(
    Guid StoreId, Guid PipelineId, Guid BatchId, int Attempt, DateTimeOffset At, int? Status, int DurationMs, string Outcome,
    string? Error, int EventCount, string[] EventIds);

/// <summary>
/// Records every delivery attempt (one row per batch attempt with its event ids) in <c>delivery_attempts</c>. A
/// diagnostic, so delivery never waits for it: attempts are buffered in memory and written with one COPY every
/// <see cref="WorkerOptions.AttemptLogFlushInterval"/>; past <see cref="WorkerOptions.AttemptLogCapacity"/> waiting
/// rows, or when a worker dies before its flush, attempts go unrecorded.
/// </summary>
public sealed class AttemptLog : BackgroundService
{
    private const int MaxErrorLength = 500;

    private readonly Channel<AttemptRecord> _pending;
    private readonly NpgsqlDataSource _dataSource;
    private readonly DayPartitioner _partitioner;
    private readonly PipelineCache _pipelines;
    private readonly TimeProvider _time;
    private readonly WorkerOptions _options;
    private readonly ILogger<AttemptLog> _logger;
    private long _unrecorded;

    public AttemptLog(
        NpgsqlDataSource dataSource, DayPartitioner partitioner, PipelineCache pipelines, TimeProvider time, IOptions<WorkerOptions> options,
        ILogger<AttemptLog> logger)
    {
        _dataSource = dataSource;
        _partitioner = partitioner;
        _pipelines = pipelines;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _pending = Channel.CreateBounded<AttemptRecord>(new BoundedChannelOptions(Math.Max(1, _options.AttemptLogCapacity))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
    }

    public void Record(Pipeline pipeline, Guid batchId, int attempt, IReadOnlyList<EnrichedEvent> events, DeliveryResult result, string outcome)
    {
        if (_options.AttemptLogRetention <= TimeSpan.Zero)
        {
            return;
        }
        // The ids of events a deletion reached by now are left out, as its sweep takes them out of the rows it finds.
        var deletions = _pipelines.KnownDeletions(pipeline.StoreId);
        var ids = deletions.Count == 0
            ? events.Select(e => e.Event?.EventId ?? "").ToArray()
            : events.Where(e => DeletionRule.FirstDrop(deletions, e) is null).Select(e => e.Event?.EventId ?? "").ToArray();
        var error = result.Error is { Length: > MaxErrorLength } text ? text[..MaxErrorLength] : result.Error;
        var record = new AttemptRecord(pipeline.StoreId, pipeline.Id, batchId, attempt, _time.GetUtcNow() - result.Latency, result.Status,
            (int)Math.Min(int.MaxValue, result.Latency.TotalMilliseconds), outcome, error, events.Count, ids);
        if (!_pending.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _unrecorded);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(_options.AttemptLogFlushInterval, stoppingToken);
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Stopped after the lanes and retries: their last attempts are written too.
        await FlushAsync(CancellationToken.None);
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var rows = new List<AttemptRecord>();
        while (_pending.Reader.TryRead(out var row))
        {
            rows.Add(row);
        }
        if (Interlocked.Exchange(ref _unrecorded, 0) is var lost and > 0)
        {
            _logger.LogWarning("{Count} delivery attempts were not recorded: the attempt log was full", lost);
        }
        if (rows.Count == 0)
        {
            return;
        }
        try
        {
            await _partitioner.EnsureAsync(DeliveryAttemptsTable.Name, rows.Select(r => DateOnly.FromDateTime(r.At.UtcDateTime)).Distinct(), cancellationToken);
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            var (copy, stream) = await BinaryCopyRows.BeginAsync(connection,
                $"COPY {DeliveryAttemptsTable.Name} ({DeliveryAttemptsTable.Columns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
            await using (stream)
            {
                foreach (var r in rows)
                {
                    copy.StartRow(12);
                    copy.Uuid(r.StoreId);
                    copy.Uuid(r.PipelineId);
                    copy.Uuid(r.BatchId);
                    copy.Integer(r.Attempt);
                    copy.Timestamp(r.At);
                    if (r.Status is { } status)
                    {
                        copy.Integer(status);
                    }
                    else
                    {
                        copy.Null();
                    }
                    copy.Integer(r.DurationMs);
                    copy.Text(r.Outcome);
                    copy.TextOrNull(r.Error);
                    copy.Integer(r.EventCount);
                    // The filter is of the ids as stored (without U+0000), as lookups hash them.
                    var eventIds = Array.ConvertAll(r.EventIds, PostgresText.WithoutNul);
                    copy.TextArray(eventIds);
                    copy.Bytea(EventIdFilter.Of(eventIds));
                    await copy.FlushIfFullAsync(cancellationToken);
                }
                await copy.CompleteAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            _logger.LogWarning(ex, "Could not record {Count} delivery attempts", rows.Count);
        }
    }
}
