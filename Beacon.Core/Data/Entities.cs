using Beacon.Protos.Queue;
using Microsoft.AspNetCore.Identity;

namespace Beacon.Core.Data;

/// <summary>A merchant's store: the unit of isolation for tokens, pipelines and events.</summary>
public sealed class Store
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public required string Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    /// <summary>
    /// Non-public networks (CIDR or single addresses) this store's webhooks may reach, set by an operator; null
    /// follows the operator's default (see <c>DestinationGuard.ScopeFor</c>). Cloud metadata is refused whatever it says.
    /// </summary>
    public List<string>? AllowedPrivateNetworks { get; set; }
    /// <summary>Days the events table keeps the store's events; null uses the worker's default (90).</summary>
    public int? EventRetentionDays { get; set; }
    /// <summary>Days dead letters and quarantined entries of the store are kept; null uses the worker's default (30).</summary>
    public int? DeadLetterRetentionDays { get; set; }
    /// <summary>
    /// 32 random bytes, made once per store, that <see cref="Privacy.IdentifierHasher"/> puts before an identifier it
    /// hashes for a pipeline's <see cref="Pipeline.HashFields"/>: without it a receiver could hash known ids and match
    /// them. Never shown (not in the API, not on a page).
    /// </summary>
    public byte[] IdentifierSalt { get; set; } = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
    public List<AccessToken> Tokens { get; set; } = [];
    public List<Pipeline> Pipelines { get; set; } = [];
    public List<StoreMember> Members { get; set; } = [];
}

/// <summary>
/// A storefront access token. Only the SHA-256 of the token is stored (<see cref="TokenHash"/>, lowercase hex);
/// the full token is shown once at creation, <see cref="DisplayPrefix"/> identifies it afterwards.
/// </summary>
public sealed class AccessToken
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid StoreId { get; set; }
    public Store? Store { get; set; }
    public required string Name { get; set; }
    public required string TokenHash { get; set; }
    public required string DisplayPrefix { get; set; }
    /// <summary>Origins allowed to send with this token (e.g. <c>https://shop.example</c>); empty allows any.</summary>
    public List<string> AllowedOrigins { get; set; } = [];
    /// <summary>Requests per minute for this token on the Alana API; null uses the configured default.</summary>
    public int? RateLimitPerMinute { get; set; }
    /// <summary>Requests per minute per token and client IP; null uses the configured default.</summary>
    public int? RateLimitPerIpPerMinute { get; set; }
    public bool Revoked { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? RevokedAt { get; set; }
}

public static class PipelineKinds
{
    public const string Webhook = "webhook";
    public const string Postgres = "postgres";
    public static readonly IReadOnlyList<string> All = [Webhook, Postgres];
}

/// <summary>A destination the merchant configured for the store's events.</summary>
public sealed class Pipeline
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid StoreId { get; set; }
    public Store? Store { get; set; }
    public required string Name { get; set; }
    /// <summary>One of <see cref="PipelineKinds"/>.</summary>
    public required string Kind { get; set; }
    /// <summary>Webhook destination URL; null for postgres pipelines.</summary>
    public string? Url { get; set; }
    /// <summary>Kind-specific settings (batch size, linger, headers...), as JSON.</summary>
    public Dictionary<string, string> Settings { get; set; } = [];
    /// <summary>Standard Webhooks signing secret (<c>whsec_...</c>), sealed: <see cref="Webhooks.WebhookSecretProtector"/> opens it.</summary>
    public required string Secret { get; set; }
    /// <summary>The secret being rotated out, sealed; deliveries are signed with both until <see cref="PreviousSecretExpiresAt"/>.</summary>
    public string? PreviousSecret { get; set; }
    public DateTimeOffset? PreviousSecretExpiresAt { get; set; }
    /// <summary>Event types delivered; empty delivers every type.</summary>
    public List<string> EventTypes { get; set; } = [];
    /// <summary>Consent categories an event must carry (all of them) to be delivered here; empty requires none.</summary>
    public List<string> RequiredConsent { get; set; } = [];
    /// <summary>
    /// Identifier fields (<see cref="DeletionIdentifiers.All"/>) this pipeline receives as the SHA-256 of the store's
    /// <see cref="Store.IdentifierSalt"/> and the value, never raw; empty sends them as they are.
    /// </summary>
    public List<string> HashFields { get; set; } = [];
    public bool Enabled { get; set; } = true;
    /// <summary>Why the pipeline is disabled (by a person or automatically after failing for days).</summary>
    public string? DisabledReason { get; set; }
    /// <summary>Start of the current run of uninterrupted failures; null when the last delivery succeeded.</summary>
    public DateTimeOffset? FailingSince { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;

    public bool Accepts(string eventType) => EventTypes.Count == 0 || EventTypes.Contains(eventType);

    /// <summary>Whether an event granting <paramref name="consent"/> may be delivered here.</summary>
    public bool ConsentedBy(IReadOnlyCollection<string> consent)
    {
        foreach (var required in RequiredConsent)
        {
            if (!consent.Contains(required))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>Delivery outcomes of one pipeline aggregated per minute (for charts and alerting).</summary>
public sealed class DeliveryStat
{
    public Guid PipelineId { get; set; }
    /// <summary>The minute (UTC, seconds zeroed) the counts belong to.</summary>
    public DateTimeOffset Minute { get; set; }
    public long Delivered { get; set; }
    public long Failed { get; set; }
    public long Retried { get; set; }
    public long DeadLettered { get; set; }
    /// <summary>Events not given to the pipeline because they lacked a category of its <see cref="Pipeline.RequiredConsent"/>.</summary>
    public long ConsentMissing { get; set; }
    public double? LatencyP50Ms { get; set; }
    public double? LatencyP99Ms { get; set; }
}

/// <summary>
/// A batch parked for a later delivery attempt. The stream entry is acked once this row is committed,
/// so a destination that is down for hours never holds the Redis stream back.
/// </summary>
public sealed class RetryBatch
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid PipelineId { get; set; }
    public Guid StoreId { get; set; }
    /// <summary>Protobuf <c>EnrichedEventBatch</c>.</summary>
    public required byte[] Payload { get; set; }
    public int EventCount { get; set; }
    /// <summary>Attempts made so far.</summary>
    public int Attempts { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public int? LastStatus { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset FirstFailedAt { get; set; } = DateTimeOffset.UtcNow;
    /// <summary>A worker that took the batch owns it until then; a crashed worker's lease simply expires.</summary>
    public DateTimeOffset? LeasedUntil { get; set; }
}

/// <summary>An event a pipeline gave up on: kept with the last error until replayed or discarded.</summary>
public sealed class DeadLetter
{
    public long Id { get; set; }
    public Guid PipelineId { get; set; }
    public Guid StoreId { get; set; }
    public required string EventId { get; set; }
    public required string EventType { get; set; }
    /// <summary>Protobuf <c>EnrichedEvent</c>.</summary>
    public required byte[] Envelope { get; set; }
    public int Attempts { get; set; }
    public int? LastStatus { get; set; }
    public string? LastError { get; set; }
    /// <summary>The start of the destination's answer, truncated.</summary>
    public string? ResponseExcerpt { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// A stream entry the worker could not read (DESIGN §4): kept with the raw bytes of every field, written before
/// the entry is acked, until an operator replays it (appended to <see cref="Stream"/> again) or discards it.
/// </summary>
public sealed class QuarantinedEntry
{
    public long Id { get; set; }
    public required string Stream { get; set; }
    /// <summary>The entry's id in <see cref="Stream"/> (e.g. <c>1764600000000-0</c>).</summary>
    public required string EntryId { get; set; }
    /// <summary>The entry's field names, in order; <see cref="FieldValues"/> holds their values at the same index.</summary>
    public List<string> FieldNames { get; set; } = [];
    public List<byte[]> FieldValues { get; set; } = [];
    /// <summary>Why the worker could not read it.</summary>
    public required string Error { get; set; }
    /// <summary>The store of its events when their envelopes still name one; null when nothing does.</summary>
    public Guid? StoreId { get; set; }
    public DateTimeOffset FirstSeenAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// The identifiers of a shopper in the event model (DESIGN §2), as the API and the events table spell them: what a
/// deletion or suppression can name (DESIGN §9) and what a pipeline can have hashed.
/// </summary>
public static class DeletionIdentifiers
{
    public const string DeviceId = "device_id";
    public const string VisitorId = "visitor_id";
    public const string CustomerId = "customer_id";
    public const string UserId = "user_id";
    public const string SessionId = "session_id";
    public static readonly IReadOnlyList<string> All = [DeviceId, VisitorId, CustomerId, UserId, SessionId];
}

public static class DeletionStatuses
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>
/// A request to delete a store's event data (DESIGN §9): one shopper's (<see cref="IdentifierField"/> =
/// <see cref="IdentifierValue"/>) or, with no identifier, the whole store's after the store was deleted. Run in the
/// background by Admin.Web's deletion runner; the row is the audit record and outlives the store (no foreign key).
/// With <see cref="Suppress"/> the identifier's new events keep being dropped (reason <c>suppressed</c>) until
/// <see cref="LiftedAt"/>; the worker also drops any queued event of the identifier received before
/// <see cref="RequestedAt"/>.
/// </summary>
public sealed class DataDeletion
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid StoreId { get; set; }
    /// <summary>One of <see cref="DeletionIdentifiers"/>; null for a whole-store deletion.</summary>
    public string? IdentifierField { get; set; }
    public string? IdentifierValue { get; set; }
    public bool Suppress { get; set; }
    public DateTimeOffset? LiftedAt { get; set; }
    public string? LiftedBy { get; set; }
    /// <summary>One of <see cref="DeletionStatuses"/>.</summary>
    public string Status { get; set; } = DeletionStatuses.Pending;
    /// <summary>What was removed, per place (<c>events</c>, <c>dead_letters</c>, <c>retry_batch_events</c>, <c>quarantine</c>, ...).</summary>
    public Dictionary<string, long> Deleted { get; set; } = [];
    public string? Error { get; set; }
    /// <summary>Who asked: the user's email (or id) as the request was authenticated.</summary>
    public required string RequestedBy { get; set; }
    public DateTimeOffset RequestedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public int Attempts { get; set; }
}

/// <summary>
/// A signed <c>privacy.deletion</c> notice owed to one webhook pipeline (the outbox of deletion notices): kept until the
/// receiver answers 2xx or the attempts (the webhook retry schedule) are used up, then removed, the outcome counted in its
/// deletion's <see cref="DataDeletion.Deleted"/>.
/// </summary>
public sealed class DeletionNotice
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid DeletionId { get; set; }
    public Guid StoreId { get; set; }
    public Guid PipelineId { get; set; }
    /// <summary>The <c>webhook-id</c>, the same on every attempt so the receiver can drop repeats.</summary>
    public required string MessageId { get; set; }
    /// <summary>The JSON body, fixed when the notice is made (signed again at each attempt, with the secret then in force).</summary>
    public required byte[] Body { get; set; }
    public int Attempts { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    /// <summary>An Admin.Web instance sending it owns it until then.</summary>
    public DateTimeOffset? LeasedUntil { get; set; }
    public int? LastStatus { get; set; }
    public string? LastError { get; set; }
}

/// <summary>An Admin.Web user (operator or merchant).</summary>
public sealed class BeaconUser : IdentityUser
{
    public bool IsOperator { get; set; }
    public List<StoreMember> Stores { get; set; } = [];
}

/// <summary>Membership of a merchant user in a store.</summary>
public sealed class StoreMember
{
    public Guid StoreId { get; set; }
    public Store? Store { get; set; }
    public required string UserId { get; set; }
    public BeaconUser? User { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>A key for the management API (<c>Authorization: Bearer ...</c>), stored as SHA-256 hex.</summary>
public sealed class ApiKey
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public required string Name { get; set; }
    public required string KeyHash { get; set; }
    public required string DisplayPrefix { get; set; }
    /// <summary>The user whose rights the key carries.</summary>
    public required string UserId { get; set; }
    public BeaconUser? User { get; set; }
    public bool Revoked { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? LastUsedAt { get; set; }
}

/// <summary>A row of the day-partitioned <c>events</c> table written by postgres pipelines (read-only in EF).</summary>
public sealed class StoredEvent
{
    public required string EventId { get; set; }
    public Guid StoreId { get; set; }
    public Guid PipelineId { get; set; }
    public required string EventType { get; set; }
    public required string Source { get; set; }
    public DateTimeOffset Timestamp { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public string? SessionId { get; set; }
    public string? DeviceId { get; set; }
    public string? CustomerId { get; set; }
    public string? VisitorId { get; set; }
    public string? ProductId { get; set; }
    public string? GeoCountry { get; set; }
    public string? GeoState { get; set; }
    public string? GeoCity { get; set; }
    public string? DeviceType { get; set; }
    public string? Browser { get; set; }
    public string? Os { get; set; }
    public string? ShoppingChannel { get; set; }
    /// <summary>Every other field of the event, as JSON (jsonb).</summary>
    public required string Data { get; set; }
}

public static class ReplayStatuses
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>
/// A window of archived events being delivered again into one pipeline (DESIGN §10). A worker leases it
/// (<see cref="LeasedUntil"/>) and walks the archive's rows in (received_at, entry_id) order from
/// <see cref="CursorReceivedAt"/> / <see cref="CursorEntryId"/>, so a crashed worker's replay goes on where the last
/// committed page ended.
/// </summary>
public sealed class Replay
{
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid StoreId { get; set; }
    public Guid PipelineId { get; set; }
    /// <summary>Events received at or after this instant...</summary>
    public DateTimeOffset From { get; set; }
    /// <summary>...and before this one.</summary>
    public DateTimeOffset To { get; set; }
    /// <summary>One of <see cref="ReplayStatuses"/>.</summary>
    public string Status { get; set; } = ReplayStatuses.Queued;
    /// <summary>Archived events in the window, counted when the replay starts.</summary>
    public long? Total { get; set; }
    /// <summary>Events of the window read so far.</summary>
    public long Scanned { get; set; }
    /// <summary>Events handed to the pipeline (delivered, or parked for retry like any failed delivery).</summary>
    public long Sent { get; set; }
    /// <summary>Events the pipeline's filter does not take.</summary>
    public long Skipped { get; set; }
    public DateTimeOffset? CursorReceivedAt { get; set; }
    public string? CursorEntryId { get; set; }
    public DateTimeOffset? LeasedUntil { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
}
