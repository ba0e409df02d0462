using System.Threading.Channels;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Queue;
using Beacon.Core.Events;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Worker.Consuming;
using Beacon.Worker.Routing;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Archive;

/// <summary>
/// The events of one stream entry, waiting to be archived, with the entry's batch fields as they are in the stream and
/// how many of the events each holds, counted when the entry was read (null for entries in another shape): each is one
/// ingested batch, archived as it is.
/// </summary>
public sealed record ArchiveItem(InFlightEntry Entry, IReadOnlyList<EnrichedEvent> Events, IReadOnlyList<(byte[] Bytes, int Count)>? BatchFields);

/// <summary>
/// Writes every event the worker reads into <c>event_archive</c> (binary COPY, one row per ingested batch with the
/// Bloom filter of its ids: <see cref="EventArchiveTable"/>), whatever pipelines the store has, except those a deletion
/// or suppression reaches. The archive is one more part of each entry: the
/// entry is acked only once its events are archived, and stays pending for a reclaim if the COPY fails. Entries of
/// many reads share a COPY.
/// </summary>
public sealed class ArchiveWriter(
    NpgsqlDataSource dataSource,
    DayPartitioner partitioner,
    PipelineCache pipelines,
    IOptions<WorkerOptions> options,
    ILogger<ArchiveWriter> logger) : BackgroundService
{
    private const string CopySql = "COPY event_archive (store_id, received_at, entry_id, event_ids, event_id_filter, events) FROM STDIN (FORMAT BINARY)";

    private readonly Channel<ArchiveItem> _items = Channel.CreateBounded<ArchiveItem>(new BoundedChannelOptions(4_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    public bool Enabled => options.Value.ArchiveRetention > TimeSpan.Zero;

    /// <summary>Queues an entry's events; waits while the archive is behind (back-pressure on the reader).</summary>
    public ValueTask EnqueueAsync(ArchiveItem item, CancellationToken cancellationToken) => _items.Writer.WriteAsync(item, cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var slots = new SemaphoreSlim(Math.Max(1, settings.ArchiveConcurrentWrites));
        var running = new List<Task>();
        var batch = new List<ArchiveItem>();
        try
        {
            while (await _items.Reader.WaitToReadAsync(stoppingToken))
            {
                await FillAsync(batch, settings, stoppingToken);
                await slots.WaitAsync(stoppingToken);
                var items = batch.ToList();
                batch.Clear();
                running.RemoveAll(t => t.IsCompleted);
                // A COPY under way finishes during shutdown, so its entries are acked rather than archived twice.
                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        await WriteAsync(items);
                    }
                    finally
                    {
                        slots.Release();
                    }
                }, CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await Task.WhenAll(running);
        foreach (var item in batch)
        {
            item.Entry.PartAbandoned();
        }
        while (_items.Reader.TryRead(out var left))
        {
            left.Entry.PartAbandoned();
        }
    }

    private async Task FillAsync(List<ArchiveItem> batch, WorkerOptions settings, CancellationToken stoppingToken)
    {
        var count = 0;
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        linger.CancelAfter(settings.ArchiveLinger);
        while (count < settings.ArchiveBatchSize)
        {
            if (_items.Reader.TryRead(out var next))
            {
                batch.Add(next);
                count += next.Events.Count;
                continue;
            }
            try
            {
                if (!await _items.Reader.WaitToReadAsync(linger.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task WriteAsync(List<ArchiveItem> items)
    {
        try
        {
            var days = items.SelectMany(i => i.Events).Select(e => DateOnly.FromDateTime(EventJson.ReceivedAtOf(e).UtcDateTime)).Distinct();
            await partitioner.EnsureAsync(EventArchiveTable.Name, days, CancellationToken.None);
            await using var connection = await dataSource.OpenConnectionAsync();
            var (copy, stream) = await BinaryCopyRows.BeginAsync(connection, CopySql, CancellationToken.None);
            await using (stream)
            {
                // Checked once the COPY has its lock, so a deletion that became known while these events waited (or while
                // a deletion's sweep held the table) leaves them out too.
                var reached = ReachedByDeletions();
                foreach (var item in items)
                {
                    foreach (var row in RowsOf(item, reached))
                    {
                        copy.StartRow(6);
                        copy.Uuid(row.StoreId);
                        copy.Timestamp(row.ReceivedAt);
                        copy.Text(item.Entry.Stream + "/" + item.Entry.Id);
                        copy.TextArray(row.EventIds);
                        copy.Bytea(EventIdFilter.Of(row.EventIds));
                        copy.Bytea(row.Events);
                        await copy.FlushIfFullAsync(CancellationToken.None);
                    }
                }
                await copy.CompleteAsync(CancellationToken.None);
            }
        }
        catch (Exception ex)
        {
            // Every failure, not only the database's: an entry never released would be held, and kept from reclaim, forever.
            logger.LogWarning(ex, "Could not archive {Count} entries; they stay pending and are read again", items.Count);
            foreach (var item in items)
            {
                item.Entry.PartAbandoned();
            }
            return;
        }
        foreach (var item in items)
        {
            item.Entry.PartDone();
        }
    }

    private sealed record ArchiveRow(Guid StoreId, DateTimeOffset ReceivedAt, string[] EventIds, byte[] Events);

    /// <summary>Whether a deletion or suppression of its store, as this worker knows them now, reaches an event (not counted: the router counts drops).</summary>
    private Predicate<EnrichedEvent> ReachedByDeletions()
    {
        var rulesByStore = new Dictionary<string, IReadOnlyList<DeletionRule>>(StringComparer.Ordinal);
        return e =>
        {
            if (!rulesByStore.TryGetValue(e.StoreId, out var rules))
            {
                // The router archives only events whose store id it read.
                rulesByStore[e.StoreId] = rules = pipelines.KnownDeletions(Guid.Parse(e.StoreId));
            }
            return rules.Count > 0 && DeletionRule.FirstDrop(rules, e) is not null;
        };
    }

    /// <summary>
    /// One row per store and receipt time: a batch field of the entry (one request's events, as ingestion writes it)
    /// is archived as the stream holds it; any other events (another shape, a field whose events differ in store or
    /// receipt time, or one holding events a deletion reaches, which are left out) are grouped by store and receipt time
    /// and encoded again the way ingestion encodes a batch.
    /// </summary>
    private static IEnumerable<ArchiveRow> RowsOf(ArchiveItem item, Predicate<EnrichedEvent> reached)
    {
        if (item.BatchFields is not { } fields)
        {
            return Regrouped(item.Events.Where(e => !reached(e)));
        }
        var rows = new List<ArchiveRow>(fields.Count);
        var offset = 0;
        foreach (var (field, count) in fields)
        {
            var events = item.Events.Skip(offset).Take(count).ToList();
            offset += count;
            if (events.Exists(reached))
            {
                rows.AddRange(Regrouped(events.FindAll(e => !reached(e))));
                continue;
            }
            if (events.Count == 0)
            {
                continue;
            }
            var receivedAt = EventJson.ReceivedAtOf(events[0]);
            if (events.TrueForAll(e => e.StoreId == events[0].StoreId && EventJson.ReceivedAtOf(e) == receivedAt))
            {
                rows.Add(new ArchiveRow(Guid.Parse(events[0].StoreId), receivedAt, events.Select(e => PostgresText.WithoutNul(e.Event.EventId)).ToArray(), field));
            }
            else
            {
                rows.AddRange(Regrouped(events));
            }
        }
        return rows;
    }

    private static IEnumerable<ArchiveRow> Regrouped(IEnumerable<EnrichedEvent> events) =>
        events.GroupBy(e => (e.StoreId, ReceivedAt: EventJson.ReceivedAtOf(e))).Select(group =>
        {
            var list = group.ToList();
            return new ArchiveRow(Guid.Parse(group.Key.StoreId), group.Key.ReceivedAt,
                list.Select(e => PostgresText.WithoutNul(e.Event.EventId)).ToArray(), (byte[])QueueEntries.Fields(list)[0].Value!);
        });
}
