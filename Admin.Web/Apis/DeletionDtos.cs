using System.Text.Json.Serialization;
using Beacon.Core.Data;

namespace Beacon.Admin.Apis;

/// <summary>
/// <c>POST …/deletions</c>: exactly one identifier, and whether to keep refusing its new events. The names are
/// snake_case as in DESIGN §9 (the rest of the management API is camelCase).
/// </summary>
public sealed record DeletionRequest(
    [property: JsonPropertyName("device_id")] string? DeviceId,
    [property: JsonPropertyName("visitor_id")] string? VisitorId,
    [property: JsonPropertyName("customer_id")] string? CustomerId,
    [property: JsonPropertyName("user_id")] string? UserId,
    [property: JsonPropertyName("session_id")] string? SessionId,
    [property: JsonPropertyName("suppress")] bool? Suppress)
{
    public IReadOnlyDictionary<string, string?> Identifiers() => new Dictionary<string, string?>
    {
        [DeletionIdentifiers.DeviceId] = DeviceId,
        [DeletionIdentifiers.VisitorId] = VisitorId,
        [DeletionIdentifiers.CustomerId] = CustomerId,
        [DeletionIdentifiers.UserId] = UserId,
        [DeletionIdentifiers.SessionId] = SessionId,
    };
}

public sealed record DeletionAccepted([property: JsonPropertyName("id")] Guid Id);

/// <summary>A deletion as <c>GET …/deletions/{id}</c> shows it; <see cref="Identifier"/> is null for a whole store.</summary>
public sealed record DeletionDto(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("store_id")] Guid StoreId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("identifier")] IReadOnlyDictionary<string, string>? Identifier,
    [property: JsonPropertyName("suppress")] bool Suppress,
    [property: JsonPropertyName("suppression_active")] bool SuppressionActive,
    [property: JsonPropertyName("deleted")] IReadOnlyDictionary<string, long> Deleted,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("requested_by")] string RequestedBy,
    [property: JsonPropertyName("requested_at")] DateTimeOffset RequestedAt,
    [property: JsonPropertyName("started_at")] DateTimeOffset? StartedAt,
    [property: JsonPropertyName("completed_at")] DateTimeOffset? CompletedAt,
    [property: JsonPropertyName("lifted_by")] string? LiftedBy,
    [property: JsonPropertyName("lifted_at")] DateTimeOffset? LiftedAt)
{
    public static DeletionDto Of(DataDeletion d) => new(d.Id, d.StoreId, d.Status,
        d.IdentifierField is { } field ? new Dictionary<string, string> { [field] = d.IdentifierValue ?? "" } : null,
        d.Suppress, d.Suppress && d.LiftedAt is null, d.Deleted, d.Error, d.RequestedBy, d.RequestedAt, d.StartedAt, d.CompletedAt,
        d.LiftedBy, d.LiftedAt);
}
