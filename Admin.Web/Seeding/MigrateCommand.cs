using Beacon.Core.Data;
using Beacon.Core.Delivery;

namespace Beacon.Admin.Seeding;

/// <summary>
/// The <c>migrate</c> command: applies migrations, brings the services' Postgres roles up to date (<see cref="ServiceRoles"/>), encrypts webhook secrets still stored in plaintext, creates the bootstrap operator and API key when
/// configured and, with <c>--seed-dev</c>, seeds the dev store.
/// </summary>
public static class MigrateCommand
{
    public static async Task<int> RunAsync(IServiceProvider services, bool seedDev)
    {
        await using var scope = services.CreateAsyncScope();
        var logger = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Beacon.Migrate");
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        await DatabaseMigrator.MigrateAsync(db, CancellationToken.None);
        var secrets = scope.ServiceProvider.GetRequiredService<WebhookSecretProtector>();
        var sealedCount = await secrets.SealPlaintextSecretsAsync(db, CancellationToken.None);
        if (sealedCount > 0)
        {
            logger.LogInformation("Encrypted the webhook secrets of {Count} pipelines stored in plaintext", sealedCount);
        }
        logger.LogInformation("Database is up to date");
        var configuration = scope.ServiceProvider.GetRequiredService<IConfiguration>();
        var roles = await ServiceRoles.EnsureAsync(db, configuration, CancellationToken.None);
        if (roles.Count > 0)
        {
            logger.LogInformation("Service roles up to date: {Roles}", string.Join(", ", roles));
        }

        await scope.ServiceProvider.GetRequiredService<AdminBootstrapper>().RunAsync(CancellationToken.None);

        if (seedDev)
        {
            await DevSeeder.SeedAsync(db, secrets, configuration, logger, CancellationToken.None);
        }
        return 0;
    }
}
