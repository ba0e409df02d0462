using System.Security.Claims;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Privacy;

/// <summary>
/// Deletion and suppression requests of a store (DESIGN §9). A request is recorded (the audit record: who, when,
/// what) and announced as a store change, so every worker starts dropping the identifier's queued events within
/// a second; <see cref="DeletionRunner"/> then removes the stored copies in the background.
/// </summary>
public sealed class DeletionService(BeaconDbContext db, ChangeNotifier notifier, ILogger<DeletionService> logger)
{
    public const int MaxIdentifierLength = 256;

    public Task<List<DataDeletion>> ListAsync(Guid storeId, int limit, CancellationToken cancellationToken) =>
        db.DataDeletions.AsNoTracking().Where(d => d.StoreId == storeId)
            .OrderByDescending(d => d.RequestedAt).Take(Math.Clamp(limit, 1, 1000)).ToListAsync(cancellationToken);

    public Task<DataDeletion?> FindAsync(Guid storeId, Guid deletionId, CancellationToken cancellationToken) =>
        db.DataDeletions.AsNoTracking().FirstOrDefaultAsync(d => d.Id == deletionId && d.StoreId == storeId, cancellationToken);

    /// <summary>The errors of a request naming <paramref name="identifiers"/> (field → value; exactly one must be given).</summary>
    public static Dictionary<string, string[]> Validate(IReadOnlyDictionary<string, string?> identifiers)
    {
        var given = identifiers.Where(i => !string.IsNullOrEmpty(i.Value)).ToList();
        if (given.Count != 1)
        {
            return new() { ["identifier"] = [$"Give exactly one of {string.Join(", ", DeletionIdentifiers.All)}."] };
        }
        if (given[0].Value!.Length > MaxIdentifierLength)
        {
            return new() { [given[0].Key] = [$"An identifier is at most {MaxIdentifierLength} characters."] };
        }
        return [];
    }

    public async Task<DataDeletion> RequestAsync(Guid storeId, string field, string value, bool suppress, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var deletion = new DataDeletion
        {
            StoreId = storeId,
            IdentifierField = field,
            IdentifierValue = value,
            Suppress = suppress,
            RequestedBy = RequesterOf(user),
        };
        db.DataDeletions.Add(deletion);
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        // The identifier is not logged: logs are kept longer, and by more people, than the request.
        logger.LogInformation("Deletion {DeletionId} of a {Field} of store {StoreId} requested by {RequestedBy} (suppress: {Suppress})",
            deletion.Id, field, storeId, deletion.RequestedBy, suppress);
        return deletion;
    }

    /// <summary>Ends a suppression: the identifier's new events are delivered again. Null when there is no such deletion.</summary>
    public async Task<DataDeletion?> LiftAsync(Guid storeId, Guid deletionId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var deletion = await db.DataDeletions.FirstOrDefaultAsync(d => d.Id == deletionId && d.StoreId == storeId, cancellationToken);
        if (deletion is null || !deletion.Suppress || deletion.LiftedAt is not null)
        {
            return deletion;
        }
        deletion.LiftedAt = DateTimeOffset.UtcNow;
        deletion.LiftedBy = RequesterOf(user);
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Suppression {DeletionId} of store {StoreId} lifted by {LiftedBy}", deletionId, storeId, deletion.LiftedBy);
        return deletion;
    }

    /// <summary>
    /// Deletes a store at once (tokens, pipelines, members, parked retries, dead letters: ingestion refuses its
    /// tokens within a second) and records a whole-store deletion whose runner removes its events and quarantined
    /// entries in the background. Null when there is no such store.
    /// </summary>
    public async Task<DataDeletion?> DeleteStoreAsync(Guid storeId, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tokenHashes = await db.AccessTokens.Where(t => t.StoreId == storeId).Select(t => t.TokenHash).ToListAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (await db.Stores.Where(s => s.Id == storeId).ExecuteDeleteAsync(cancellationToken) == 0)
        {
            return null;
        }
        var deletion = new DataDeletion { StoreId = storeId, RequestedBy = RequesterOf(user) };
        db.DataDeletions.Add(deletion);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        foreach (var hash in tokenHashes)
        {
            await notifier.TokenChangedAsync(storeId, hash, cancellationToken);
        }
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        await notifier.StoresChangedAsync(cancellationToken);
        logger.LogInformation("Store {StoreId} deleted by {RequestedBy}; its data goes with deletion {DeletionId}", storeId, deletion.RequestedBy, deletion.Id);
        return deletion;
    }

    private static string RequesterOf(ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.Email) ?? user.Identity?.Name ?? user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "unknown";
}
