using Beacon.Admin.Management;
using Beacon.Core.Data;
using Beacon.Core.Privacy;
using Beacon.Core.Delivery;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Privacy;

/// <summary>
/// The signed <c>privacy.deletion</c> notices owed to a store's webhook pipelines (<see cref="DeletionNotice"/>, an outbox):
/// made and tried once when a deletion runs, then tried again on the webhook retry schedule until the receiver answers
/// 2xx or the attempts are used up. Each outcome moves one count of the deletion's <c>deleted</c> map from
/// <c>webhooks_retrying</c> to <c>webhooks_notified</c> or <c>webhooks_failed</c>. A pipeline hashing the identifier's
/// field (<see cref="Pipeline.HashFields"/>) is told the hash, the value it holds.
/// </summary>
public sealed class DeletionNotices(
    BeaconDbContext db, WebhookSender sender, DestinationGuard guard, WebhookSecretProtector secrets, TimeProvider time,
    IOptions<AdminOptions> options, ILogger<DeletionNotices> logger)
{
    public const string Notified = "webhooks_notified";
    public const string Retrying = "webhooks_retrying";
    public const string Failed = "webhooks_failed";

    private const int LeaseBatch = 20;
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
    private const int MaxErrorLength = 500;

    /// <summary>Makes the deletion's notices, one per enabled webhook pipeline of its store, and tries each once.</summary>
    /// <returns>How many were delivered, are waiting for another attempt, or failed for good.</returns>
    public async Task<Dictionary<string, long>> SendAsync(DataDeletion deletion, string field, string value, CancellationToken cancellationToken)
    {
        var pipelines = await db.Pipelines.AsNoTracking().Include(p => p.Store)
            .Where(p => p.StoreId == deletion.StoreId && p.Enabled && p.Kind == PipelineKinds.Webhook).ToListAsync(cancellationToken);
        var now = time.GetUtcNow();
        var notices = pipelines.Select(pipeline =>
        {
            var messageId = WebhookPayload.NewBatchId();
            var told = IdentifierHasher.For(pipeline) is { } hasher && hasher.Hashes(field) ? hasher.Hash(value) : value;
            return (Pipeline: pipeline, Notice: new DeletionNotice
            {
                DeletionId = deletion.Id,
                StoreId = deletion.StoreId,
                PipelineId = pipeline.Id,
                MessageId = messageId,
                Body = WebhookPayload.SerializeDeletion(messageId, deletion.Id, deletion.StoreId, field, told, deletion.Suppress, deletion.RequestedAt),
                NextAttemptAt = now,
                LeasedUntil = now + Lease,
            });
        }).ToList();
        // Durable before the first attempt: an instance dying now leaves them for another's retry.
        db.DeletionNotices.AddRange(notices.Select(n => n.Notice));
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();
        var counts = new Dictionary<string, long> { [Notified] = 0, [Retrying] = 0, [Failed] = 0 };
        foreach (var (pipeline, notice) in notices)
        {
            counts[await AttemptAsync(notice, pipeline, cancellationToken)]++;
        }
        return counts;
    }

    /// <summary>Tries again the notices that are due (of deletions no longer running); false when none was.</summary>
    public async Task<bool> RetryDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = await db.DeletionNotices.FromSqlInterpolated($"""
            UPDATE deletion_notices SET leased_until = {now + Lease}
            WHERE id IN (
                SELECT n.id FROM deletion_notices n JOIN data_deletions d ON d.id = n.deletion_id
                WHERE n.next_attempt_at <= {now} AND (n.leased_until IS NULL OR n.leased_until < {now})
                  AND d.status IN ({DeletionStatuses.Completed}, {DeletionStatuses.Failed})
                ORDER BY n.next_attempt_at LIMIT {LeaseBatch}
                FOR UPDATE OF n SKIP LOCKED)
            RETURNING *
            """).AsNoTracking().ToListAsync(cancellationToken);
        foreach (var notice in due)
        {
            var pipeline = await db.Pipelines.AsNoTracking().Include(p => p.Store).FirstOrDefaultAsync(p => p.Id == notice.PipelineId, cancellationToken);
            if (pipeline is null)
            {
                continue; // deleted meanwhile: its notices went with it
            }
            var outcome = await AttemptAsync(notice, pipeline, cancellationToken);
            if (outcome != Retrying)
            {
                await MoveCountAsync(notice.DeletionId, outcome, cancellationToken);
            }
        }
        return due.Count > 0;
    }

    /// <summary>One attempt; records it and returns the count it falls under.</summary>
    private async Task<string> AttemptAsync(DeletionNotice notice, Pipeline pipeline, CancellationToken cancellationToken)
    {
        var scope = guard.ScopeFor(pipeline.Store?.AllowedPrivateNetworks);
        WebhookResult? result = null;
        string? error = null;
        // A refusal (a 4xx other than 408/429, a URL it may not reach) will not change; anything else gets its next turn.
        var retryable = true;
        if (!Uri.TryCreate(pipeline.Url, UriKind.Absolute, out var url) || DestinationGuard.ValidateUrl(pipeline.Url, scope) is not null)
        {
            error = "The pipeline's URL is not one it may reach";
            retryable = false;
        }
        else
        {
            try
            {
                result = await sender.SendAsync(new WebhookRequest(url, notice.MessageId, notice.Body, secrets.SecretsOf(pipeline), scope), cancellationToken);
                error = result.Error ?? (result.Delivered ? null : $"HTTP {result.StatusCode}");
                retryable = result.Outcome == WebhookOutcome.Retry;
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                // Sealed under another Beacon:MasterKey: tried again, so the notice goes once the key is fixed.
                error = "The pipeline's signing secret does not open with this instance's Beacon:MasterKey";
            }
        }
        var attempts = notice.Attempts + 1;
        var notices = db.DeletionNotices.Where(n => n.Id == notice.Id);
        if (result?.Delivered == true)
        {
            await notices.ExecuteDeleteAsync(cancellationToken);
            return Notified;
        }
        var delay = retryable
            ? RetrySchedule.DelayAfter(attempts, options.Value.DeletionNoticeRetrySchedule, 0.2, result?.RetryAfter, TimeSpan.FromHours(24))
            : null;
        logger.LogWarning("Deletion notice {DeletionId} to pipeline {PipelineId} failed (attempt {Attempt}): {Status} {Error}; {Next}",
            notice.DeletionId, pipeline.Id, attempts, result?.StatusCode, error, delay is null ? "given up" : "tried again later");
        if (delay is not { } wait)
        {
            await notices.ExecuteDeleteAsync(cancellationToken);
            return Failed;
        }
        var text = error is { Length: > MaxErrorLength } ? error[..MaxErrorLength] : error;
        await notices.ExecuteUpdateAsync(set => set
            .SetProperty(n => n.Attempts, attempts)
            .SetProperty(n => n.NextAttemptAt, time.GetUtcNow() + wait)
            .SetProperty(n => n.LeasedUntil, (DateTimeOffset?)null)
            .SetProperty(n => n.LastStatus, result == null ? null : result.StatusCode)
            .SetProperty(n => n.LastError, text), cancellationToken);
        return Retrying;
    }

    private Task MoveCountAsync(Guid deletionId, string to, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE data_deletions SET deleted = deleted || jsonb_build_object(
                {Retrying}::text, greatest(coalesce((deleted->>{Retrying})::bigint, 0) - 1, 0),
                {to}::text, coalesce((deleted->>{to})::bigint, 0) + 1)
            WHERE id = {deletionId}
            """, cancellationToken);
}
