using System.Text;
using Beacon.Core.Data;
using Beacon.Protos.Queue;
using Beacon.Protos.V1;

namespace Beacon.Core.Privacy;

/// <summary>
/// What a <see cref="DataDeletion"/> means for events still on their way (the queue, a lane, a parked retry, the
/// archive's write): an event of the identifier is dropped when the identifier is suppressed, or when it was received
/// before the deletion was asked for (it belongs to the data being deleted). A whole-store deletion (no
/// <see cref="Field"/>) reaches every event of the store.
/// </summary>
public sealed record DeletionRule(string? Field, string? Value, bool Suppressed, DateTimeOffset RequestedAt)
{
    /// <summary>Drop reason of an event a suppression refused.</summary>
    public const string SuppressedReason = "suppressed";

    /// <summary>Drop reason of a queued event that a deletion reached before it was delivered.</summary>
    public const string DeletedReason = "deleted";

    /// <summary>Drop reason of a queued event of a deleted store.</summary>
    public const string StoreDeletedReason = "store_deleted";

    public static DeletionRule Of(DataDeletion d) =>
        new(d.IdentifierField, d.IdentifierField is null ? null : d.IdentifierValue, d.Suppress && d.LiftedAt is null, d.RequestedAt);

    /// <summary>The reason to drop <paramref name="envelope"/>, or null when this rule leaves it alone.</summary>
    public string? Drops(EnrichedEvent envelope)
    {
        if (Field is null)
        {
            return StoreDeletedReason;
        }
        if (envelope.Event is not { } e || ValueOf(e, Field) != Value)
        {
            return null;
        }
        if (Suppressed)
        {
            return SuppressedReason;
        }
        return envelope.ReceivedAt is null || envelope.ReceivedAt.ToDateTimeOffset() <= RequestedAt ? DeletedReason : null;
    }

    /// <summary>
    /// The reason to drop bytes that could not be read as events (a quarantined stream entry, an unreadable envelope),
    /// or null. They are searched as bytes: protobuf keeps strings as their UTF-8 bytes, so bytes holding the identifier
    /// anywhere are reached. <paramref name="writtenAt"/>, when known, stands in for the receipt time a plain deletion
    /// compares with (a stream entry's id is the time it was appended).
    /// </summary>
    public string? DropsBytes(IEnumerable<byte[]> fields, DateTimeOffset? writtenAt)
    {
        if (Field is null)
        {
            return StoreDeletedReason;
        }
        if (!Suppressed && writtenAt > RequestedAt)
        {
            return null;
        }
        var needle = Encoding.UTF8.GetBytes(Value!);
        return fields.Any(f => f.AsSpan().IndexOf(needle) >= 0) ? (Suppressed ? SuppressedReason : DeletedReason) : null;
    }

    /// <summary>The value of one of <see cref="DeletionIdentifiers"/> in an event ("" when absent).</summary>
    public static string ValueOf(Event e, string field) => field switch
    {
        DeletionIdentifiers.DeviceId => e.DeviceId,
        DeletionIdentifiers.VisitorId => e.VisitorId,
        DeletionIdentifiers.CustomerId => e.CustomerId,
        DeletionIdentifiers.UserId => e.UserId,
        DeletionIdentifiers.SessionId => e.SessionId,
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "Not a deletion identifier"),
    };

    /// <summary>The first reason any of <paramref name="rules"/> gives to drop the event; null keeps it.</summary>
    public static string? FirstDrop(IReadOnlyList<DeletionRule> rules, EnrichedEvent envelope)
    {
        foreach (var rule in rules)
        {
            if (rule.Drops(envelope) is { } reason)
            {
                return reason;
            }
        }
        return null;
    }

    /// <summary>The first reason any of <paramref name="rules"/> gives to drop the bytes (<see cref="DropsBytes"/>); null keeps them.</summary>
    public static string? FirstDropOfBytes(IReadOnlyList<DeletionRule> rules, IReadOnlyList<byte[]> fields, DateTimeOffset? writtenAt)
    {
        foreach (var rule in rules)
        {
            if (rule.DropsBytes(fields, writtenAt) is { } reason)
            {
                return reason;
            }
        }
        return null;
    }
}
