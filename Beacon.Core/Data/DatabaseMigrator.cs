using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.Data;

/// <summary>
/// Applies pending migrations. Safe when several processes start at once: the run holds a Postgres advisory lock
/// of its own, so a second caller waits and then finds nothing to do (EF Core's own migration lock let two runs
/// apply the same migration when they raced to create the history table). Then every compressible column not yet
/// set to lz4 is (<see cref="ToastCompression"/>): columns and tables added by later migrations too.
/// </summary>
public static class DatabaseMigrator
{
    public static async Task MigrateAsync(BeaconDbContext db, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({AdvisoryLocks.Migrations})", cancellationToken);
            try
            {
                await db.Database.MigrateAsync(cancellationToken);
                await db.Database.ExecuteSqlRawAsync(ToastCompression.Lz4Sql, cancellationToken);
            }
            finally
            {
                await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({AdvisoryLocks.Migrations})", CancellationToken.None);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
