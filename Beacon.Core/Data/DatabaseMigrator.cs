using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.Data;

/// <summary>Applies pending migrations. Safe when several processes start at once: EF Core takes a
/// Postgres advisory lock around the migration run, so the second caller waits and then finds nothing to do.</summary>
public static class DatabaseMigrator
{
    public static async Task MigrateAsync(BeaconDbContext db, CancellationToken cancellationToken)
    {
        await db.Database.MigrateAsync(cancellationToken);
    }
}
