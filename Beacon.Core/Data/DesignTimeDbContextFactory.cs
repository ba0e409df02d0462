using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Beacon.Core.Data;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without starting a service.</summary>
public sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<BeaconDbContext>
{
    public BeaconDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<BeaconDbContext>()
            .UseNpgsql("Host=localhost;Database=beacon_design", npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"))
            .UseSnakeCaseNamingConvention()
            .Options;
        return new BeaconDbContext(options);
    }
}
