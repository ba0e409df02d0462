using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>
/// Adds a row to a store only while the store is under its quota. The store's row is locked for the count and the
/// insert, so two requests at once cannot both take the last place.
/// </summary>
internal static class StoreQuota
{
    public static async Task AddWithinQuotaAsync<T>(this BeaconDbContext db, Guid storeId, T entity, IQueryable<T> existing, int max,
        string what, CancellationToken cancellationToken) where T : class
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync($"SELECT 1 FROM stores WHERE id = {storeId} FOR UPDATE", cancellationToken);
        var count = await existing.CountAsync(cancellationToken);
        if (count >= max)
        {
            throw new StoreQuotaExceededException(
                $"This store already has {count} {what}, the most a store may have ({max}). Delete or revoke one first, or ask an operator to raise the limit.");
        }
        db.Add(entity);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}
