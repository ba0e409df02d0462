using System.Security.Cryptography;
using System.Text;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.Worker.Consuming;
using Beacon.Worker.Delivery;
using Beacon.Worker.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Worker.Archive;

/// <summary>
/// Runs replays (DESIGN §10): delivers every archived event of a store received in <c>[from, to)</c> into one
/// pipeline, through its filter, whenever the pipeline was created. One replay at a time per worker, at most
/// <see cref="WorkerOptions.ReplayEventsPerSecond"/>, so live traffic keeps its capacity. A batch that fails is parked
/// for retry like any live batch. Progress (cursor and counts) is saved after each page; a crashed worker's lease
/// runs out and another worker goes on from the cursor, sending the same batches under the same webhook-ids.
/// </summary>
public sealed class ReplayRunner(
    NpgsqlDataSource dataSource,
    IServiceScopeFactory scopes,
    PipelineCache pipelines,
    PipelineLanes lanes,
    DeliveryOutcomes outcomes,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<ReplayRunner> logger) : BackgroundService
{
    private const string LeaseSql = """
        UPDATE replays SET leased_until = $2, status = 'running', started_at = coalesce(started_at, $1)
        WHERE id = (
            SELECT id FROM replays
            WHERE status IN ('queued', 'running') AND (leased_until IS NULL OR leased_until < $1)
            ORDER BY created_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED)
        RETURNING id
        """;

    // A page is whole (received_at, entry_id) keys: one key holds a row per request that shared the stream entry, and
    // again the same rows when a reclaimed entry was archived twice. A page cut inside a key would lose the rest of it.
    private const string PageSql = """
        SELECT a.received_at, a.entry_id, a.events FROM event_archive a
        JOIN (SELECT DISTINCT received_at, entry_id FROM event_archive
              WHERE store_id = $1 AND received_at < $3 AND (received_at, entry_id) > ($2, $4)
              ORDER BY received_at, entry_id
              LIMIT $5) k ON a.received_at = k.received_at AND a.entry_id = k.entry_id
        WHERE a.store_id = $1
        ORDER BY a.received_at, a.entry_id
        """;

    private const string CountSql = """
        SELECT coalesce(sum(cardinality(event_ids)), 0) FROM (
            SELECT DISTINCT received_at, entry_id, event_ids FROM event_archive
            WHERE store_id = $1 AND received_at >= $2 AND received_at < $3) rows
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                Guid? leased = null;
                try
                {
                    leased = await LeaseAsync(stoppingToken);
                    if (leased is { } id)
                    {
                        await RunAsync(id, stoppingToken);
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or InvalidOperationException or TimeoutException)
                {
                    // The lease runs out and the replay goes on from its last saved page.
                    logger.LogWarning(ex, "Replay {ReplayId} stopped; it goes on from its last page later", leased);
                }
                if (leased is null)
                {
                    await Task.Delay(settings.ReplayPollInterval, time, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<Guid?> LeaseAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = dataSource.CreateCommand(LeaseSql);
        command.Parameters.Add(new() { Value = now });
        command.Parameters.Add(new() { Value = now + options.Value.ReplayLease });
        return await command.ExecuteScalarAsync(cancellationToken) is Guid id ? id : null;
    }

    private async Task RunAsync(Guid replayId, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var replay = await db.Replays.SingleAsync(r => r.Id == replayId, stoppingToken);
        var pipeline = await pipelines.FindAsync(replay.PipelineId, stoppingToken);
        if (pipeline is null || !pipeline.Enabled || !lanes.Knows(pipeline.Kind))
        {
            replay.Status = ReplayStatuses.Failed;
            replay.Error = pipeline is null ? "The pipeline no longer exists" : !pipeline.Enabled ? "The pipeline is disabled" : $"Unknown pipeline kind '{pipeline.Kind}'";
            replay.CompletedAt = time.GetUtcNow();
            await db.SaveChangesAsync(stoppingToken);
            return;
        }
        if (replay.Total is null)
        {
            await using var count = dataSource.CreateCommand(CountSql);
            count.Parameters.Add(new() { Value = replay.StoreId });
            count.Parameters.Add(new() { Value = replay.From });
            count.Parameters.Add(new() { Value = replay.To });
            replay.Total = (long)(await count.ExecuteScalarAsync(stoppingToken))!;
            await db.SaveChangesAsync(stoppingToken);
        }
        logger.LogInformation("Replaying {Total} events of store {StoreId} received from {From} to {To} into pipeline {PipelineId}",
            replay.Total, replay.StoreId, replay.From, replay.To, replay.PipelineId);

        var destination = lanes.DestinationOf(pipeline);
        var pageSize = Math.Max(1, settings.ReplayPageSize);
        var perSecond = Math.Max(1, settings.ReplayEventsPerSecond);
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            var page = await ReadPageAsync(replay, pageSize, stoppingToken);
            // As live delivery does: nothing a deletion or suppression reaches, only the types the pipeline takes, and
            // only consented events for a pipeline that requires consent.
            var deletions = (await pipelines.ForStoreAsync(replay.StoreId, stoppingToken)).Deletions;
            var wanted = page.Events.Where(e => DeletionRule.FirstDrop(deletions, e) is null
                && pipeline.Accepts(e.Event?.EventType ?? "")
                && pipeline.ConsentedBy(e.Event!.Consent)).ToList();
            foreach (var chunk in wanted.Chunk(destination.BatchSize))
            {
                var batchId = BatchIdOf(replay.Id, chunk);
                var result = await destination.DeliverAsync(pipeline, batchId, chunk, CancellationToken.None);
                try
                {
                    await outcomes.AfterFirstAttemptAsync(pipeline, batchId, chunk, result, CancellationToken.None);
                }
                catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
                {
                    // This page was sent before a crash and the batch is parked already, under the same id.
                }
            }
            replay.Scanned += page.Events.Count;
            replay.Sent += wanted.Count;
            replay.Skipped += page.Events.Count - wanted.Count;
            if (page.Last is { } last)
            {
                replay.CursorReceivedAt = last.ReceivedAt;
                replay.CursorEntryId = last.EntryId;
            }
            var now = time.GetUtcNow();
            var done = page.Keys < pageSize;
            if (done)
            {
                replay.Status = ReplayStatuses.Completed;
                replay.CompletedAt = now;
                replay.LeasedUntil = null;
            }
            else
            {
                replay.LeasedUntil = now + settings.ReplayLease;
            }
            await db.SaveChangesAsync(stoppingToken);
            if (done)
            {
                logger.LogInformation("Replay {ReplayId} completed: {Sent} events sent, {Skipped} not taken (filter, consent, deletions)",
                    replay.Id, replay.Sent, replay.Skipped);
                return;
            }
            // The throttle: a page of N events takes at least N / ReplayEventsPerSecond seconds.
            var due = TimeSpan.FromSeconds((double)page.Events.Count / perSecond) - time.GetElapsedTime(started);
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, time, stoppingToken);
            }
        }
    }

    private sealed record ArchivePage(List<EnrichedEvent> Events, int Keys, (DateTimeOffset ReceivedAt, string EntryId)? Last);

    private async Task<ArchivePage> ReadPageAsync(Replay replay, int pageSize, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(PageSql);
        command.Parameters.Add(new() { Value = replay.StoreId });
        // Before the first page the cursor sits just before the window: nothing sorts below "" at `from`.
        command.Parameters.Add(new() { Value = replay.CursorReceivedAt ?? replay.From.AddTicks(-10) });
        command.Parameters.Add(new() { Value = replay.To });
        command.Parameters.Add(new() { Value = replay.CursorEntryId ?? "" });
        command.Parameters.Add(new() { Value = pageSize });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var events = new List<EnrichedEvent>();
        var keys = 0;
        (DateTimeOffset, string)? last = null;
        // Rows of one key seen so far: a second copy of a row (the entry archived twice) has the same bytes.
        var seen = new HashSet<UInt128>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var key = (reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1));
            if (last != key)
            {
                keys++;
                last = key;
                seen.Clear();
            }
            var bytes = reader.GetFieldValue<byte[]>(2);
            if (!seen.Add(System.IO.Hashing.XxHash128.HashToUInt128(bytes)))
            {
                continue;
            }
            try
            {
                events.AddRange(EventArchiveTable.ReadEvents(bytes));
            }
            catch (Google.Protobuf.InvalidProtocolBufferException ex)
            {
                // The bytes of an entry this worker had read; skipping them beats stopping the replay.
                logger.LogError(ex, "Archived batch {EntryId} of store {StoreId} cannot be read; not replayed", key.Item2, replay.StoreId);
            }
        }
        return new ArchivePage(events, keys, last);
    }

    /// <summary>
    /// The batch id (its webhook-id) follows from the replay and the batch's events: a page sent again after a crash
    /// carries the same webhook-id, and every event keeps its <c>event_id</c>, so receivers can drop repeats.
    /// </summary>
    public static Guid BatchIdOf(Guid replayId, IReadOnlyList<EnrichedEvent> events)
    {
        var text = new StringBuilder(replayId.ToString("N"));
        foreach (var e in events)
        {
            text.Append('\n').Append(e.Event?.EventId);
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        // An RFC 9562 version 8 (custom) UUID from the hash.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
