using System.Text;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Queue;
using Beacon.Core.Webhooks;
using Beacon.Protos.Queue;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Beacon.Admin.Privacy;

/// <summary>
/// The work of one deletion, place by place, in chunks so that no statement holds locks long enough to slow
/// ingestion or delivery: the events table, dead letters, parked retry batches, quarantined entries (and, for a
/// whole store, its drop log). Events still in the Redis stream are the worker's part: it drops every queued event a
/// deletion reaches (<see cref="DeletionRule"/>). Each step can run again without harm.
/// </summary>
public sealed class DeletionSweeper(
    BeaconDbContext db, IConnectionMultiplexer redis, WebhookSender sender, DestinationGuard guard, WebhookSecretProtector secrets,
    ILogger<DeletionSweeper> logger)
{
    private const int ChunkSize = 5000;
    private const int EnvelopeChunkSize = 500;

    /// <returns>What was removed, per place.</returns>
    public async Task<Dictionary<string, long>> RunAsync(DataDeletion deletion, CancellationToken cancellationToken)
    {
        if (deletion.IdentifierField is not { } field || deletion.IdentifierValue is not { } value)
        {
            return await DeleteStoreDataAsync(deletion.StoreId, cancellationToken);
        }
        var rule = new DeletionRule(field, value, Suppressed: true, deletion.RequestedAt);
        var deleted = new Dictionary<string, long>();
        deleted["events"] = await DeleteStoredEventsAsync(deletion.StoreId, field, value, cancellationToken);
        deleted["dead_letters"] = await DeleteDeadLettersAsync(deletion.StoreId, rule, cancellationToken);
        deleted["retry_batch_events"] = await DeleteParkedEventsAsync(deletion.StoreId, rule, cancellationToken);
        deleted["quarantine"] = await DeleteQuarantinedAsync(deletion.StoreId, value, cancellationToken);
        var (notified, failed) = await NotifyWebhooksAsync(deletion, field, value, cancellationToken);
        deleted["webhooks_notified"] = notified;
        deleted["webhooks_failed"] = failed;
        return deleted;
    }

    /// <summary>The column of the events table holding an identifier; <c>user_id</c> lives in the <c>data</c> jsonb.</summary>
    private static string ColumnOf(string field) => field switch
    {
        DeletionIdentifiers.DeviceId or DeletionIdentifiers.CustomerId or DeletionIdentifiers.VisitorId or DeletionIdentifiers.SessionId => field,
        DeletionIdentifiers.UserId => "(data->>'user_id')",
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "Not a deletion identifier"),
    };

    private async Task<long> DeleteStoredEventsAsync(Guid storeId, string field, string value, CancellationToken cancellationToken)
    {
        // The column comes from the fixed list above, never from the request; the values are parameters.
        var sql = $$"""
            WITH doomed AS (SELECT event_id, pipeline_id, received_at FROM events WHERE store_id = {0} AND {{ColumnOf(field)}} = {1} LIMIT {{ChunkSize}})
            DELETE FROM events e USING doomed d
            WHERE e.store_id = {0} AND e.event_id = d.event_id AND e.pipeline_id = d.pipeline_id AND e.received_at = d.received_at
            """;
        return await DeleteInChunksAsync(() => db.Database.ExecuteSqlRawAsync(sql, [storeId, value], cancellationToken));
    }

    private async Task<long> DeleteDeadLettersAsync(Guid storeId, DeletionRule rule, CancellationToken cancellationToken)
    {
        long deleted = 0;
        long after = 0;
        while (true)
        {
            var chunk = await db.DeadLetters.AsNoTracking().Where(d => d.StoreId == storeId && d.Id > after).OrderBy(d => d.Id)
                .Take(EnvelopeChunkSize).Select(d => new { d.Id, d.Envelope }).ToListAsync(cancellationToken);
            if (chunk.Count == 0)
            {
                return deleted;
            }
            after = chunk[^1].Id;
            var doomed = chunk.Where(d => Matches(d.Envelope, rule)).Select(d => d.Id).ToList();
            if (doomed.Count > 0)
            {
                deleted += await db.DeadLetters.Where(d => doomed.Contains(d.Id)).ExecuteDeleteAsync(cancellationToken);
            }
        }
    }

    /// <summary>
    /// Rewrites parked batches without the identifier's events (a batch left empty is deleted). A batch a worker has
    /// leased is left alone: the worker drops those events itself before its attempt.
    /// </summary>
    private async Task<long> DeleteParkedEventsAsync(Guid storeId, DeletionRule rule, CancellationToken cancellationToken)
    {
        long deleted = 0;
        var after = Guid.Empty;
        while (true)
        {
            var now = DateTimeOffset.UtcNow;
            var chunk = await db.RetryBatches.Where(r => r.StoreId == storeId && r.Id.CompareTo(after) > 0
                    && (r.LeasedUntil == null || r.LeasedUntil < now))
                .OrderBy(r => r.Id).Take(EnvelopeChunkSize).ToListAsync(cancellationToken);
            if (chunk.Count == 0)
            {
                return deleted;
            }
            after = chunk[^1].Id;
            foreach (var batch in chunk)
            {
                EnrichedEventBatch parsed;
                try
                {
                    parsed = EnrichedEventBatch.Parser.ParseFrom(batch.Payload);
                }
                catch (InvalidProtocolBufferException)
                {
                    continue; // the worker drops an unreadable batch at its next attempt
                }
                var kept = parsed.Events.Where(e => rule.Drops(e) is null).ToList();
                if (kept.Count == parsed.Events.Count)
                {
                    continue;
                }
                deleted += parsed.Events.Count - kept.Count;
                if (kept.Count == 0)
                {
                    db.RetryBatches.Remove(batch);
                }
                else
                {
                    var rest = new EnrichedEventBatch();
                    rest.Events.AddRange(kept);
                    batch.Payload = rest.ToByteArray();
                    batch.EventCount = kept.Count;
                }
            }
            await db.SaveChangesAsync(cancellationToken);
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>
    /// Quarantined entries could not be read as events, so they are searched as bytes: protobuf keeps strings as their
    /// UTF-8 bytes, and an entry holding the identifier anywhere goes.
    /// </summary>
    private async Task<long> DeleteQuarantinedAsync(Guid storeId, string value, CancellationToken cancellationToken)
    {
        var needle = Encoding.UTF8.GetBytes(value);
        var entries = await db.Quarantine.AsNoTracking().Where(q => q.StoreId == storeId)
            .Select(q => new { q.Id, q.FieldValues }).ToListAsync(cancellationToken);
        var doomed = entries.Where(q => q.FieldValues.Any(v => v.AsSpan().IndexOf(needle) >= 0)).Select(q => q.Id).ToList();
        return doomed.Count == 0 ? 0 : await db.Quarantine.Where(q => doomed.Contains(q.Id)).ExecuteDeleteAsync(cancellationToken);
    }

    private static bool Matches(byte[] envelope, DeletionRule rule)
    {
        try
        {
            return rule.Drops(EnrichedEvent.Parser.ParseFrom(envelope)) is not null;
        }
        catch (InvalidProtocolBufferException)
        {
            return envelope.AsSpan().IndexOf(Encoding.UTF8.GetBytes(rule.Value)) >= 0;
        }
    }

    /// <summary>
    /// A signed <c>privacy.deletion</c> notice to each enabled webhook pipeline of the store, once (a failure is
    /// counted in the deletion's status, not retried).
    /// </summary>
    private async Task<(long Notified, long Failed)> NotifyWebhooksAsync(DataDeletion deletion, string field, string value,
        CancellationToken cancellationToken)
    {
        var pipelines = await db.Pipelines.AsNoTracking().Include(p => p.Store)
            .Where(p => p.StoreId == deletion.StoreId && p.Enabled && p.Kind == PipelineKinds.Webhook).ToListAsync(cancellationToken);
        long notified = 0, failed = 0;
        foreach (var pipeline in pipelines)
        {
            var messageId = WebhookPayload.NewBatchId();
            var body = WebhookPayload.SerializeDeletion(messageId, deletion.Id, deletion.StoreId, field, value, deletion.Suppress, deletion.RequestedAt);
            var scope = guard.ScopeFor(pipeline.Store?.AllowedPrivateNetworks);
            WebhookResult? result = null;
            if (Uri.TryCreate(pipeline.Url, UriKind.Absolute, out var url) && DestinationGuard.ValidateUrl(pipeline.Url, scope) is null)
            {
                try
                {
                    result = await sender.SendAsync(new WebhookRequest(url, messageId, body, secrets.SecretsOf(pipeline), scope), cancellationToken);
                }
                catch (System.Security.Cryptography.CryptographicException ex)
                {
                    logger.LogWarning(ex, "The secret of pipeline {PipelineId} does not open; no deletion notice sent", pipeline.Id);
                }
            }
            if (result?.Delivered == true)
            {
                notified++;
            }
            else
            {
                failed++;
                logger.LogWarning("Deletion notice {DeletionId} to pipeline {PipelineId} failed: {Status} {Error}",
                    deletion.Id, pipeline.Id, result?.StatusCode, result?.Error);
            }
        }
        return (notified, failed);
    }

    private async Task<Dictionary<string, long>> DeleteStoreDataAsync(Guid storeId, CancellationToken cancellationToken)
    {
        var sql = $$"""
            WITH doomed AS (SELECT event_id, pipeline_id, received_at FROM events WHERE store_id = {0} LIMIT {{ChunkSize}})
            DELETE FROM events e USING doomed d
            WHERE e.store_id = {0} AND e.event_id = d.event_id AND e.pipeline_id = d.pipeline_id AND e.received_at = d.received_at
            """;
        var deleted = new Dictionary<string, long>
        {
            ["events"] = await DeleteInChunksAsync(() => db.Database.ExecuteSqlRawAsync(sql, [storeId], cancellationToken)),
            ["quarantine"] = await db.Quarantine.Where(q => q.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
            // The store row's foreign keys took these with it already; whatever a worker parked since goes now.
            ["dead_letters"] = await db.DeadLetters.Where(d => d.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
            ["retry_batches"] = await db.RetryBatches.Where(r => r.StoreId == storeId).ExecuteDeleteAsync(cancellationToken),
        };
        var keys = new RedisKey[] { DropLogKeys.Recent(storeId), DropLogKeys.Counts(storeId) };
        deleted["drop_log"] = await redis.GetDatabase().KeyDeleteAsync(keys);
        return deleted;
    }

    private static async Task<long> DeleteInChunksAsync(Func<Task<int>> deleteChunk)
    {
        long total = 0;
        int deleted;
        do
        {
            deleted = await deleteChunk();
            total += deleted;
        }
        while (deleted > 0);
        return total;
    }
}
