using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.Core.Delivery;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Seeding;

/// <summary>
/// First-run data for a developer machine: a dev store, a token (<c>Beacon:DevToken</c>) and a postgres
/// pipeline, so a fresh <c>scripts/run</c> accepts and stores events at once.
/// </summary>
public static class DevSeeder
{
    public const string DevStoreName = "Dev Store";

    public static async Task SeedAsync(
        BeaconDbContext db, WebhookSecretProtector secrets, IConfiguration configuration, ILogger logger, CancellationToken cancellationToken)
    {
        var token = configuration["Beacon:DevToken"];
        if (string.IsNullOrWhiteSpace(token))
        {
            logger.LogWarning("Beacon:DevToken is not set; no dev token is seeded");
            return;
        }

        var store = await db.Stores.FirstOrDefaultAsync(s => s.Name == DevStoreName, cancellationToken);
        if (store is null)
        {
            store = new Store { Name = DevStoreName };
            db.Stores.Add(store);
            db.Pipelines.Add(new Pipeline
            {
                StoreId = store.Id,
                Name = "Events table",
                Kind = PipelineKinds.Postgres,
                Secret = secrets.Seal(WebhookSecret.New()),
            });
            logger.LogInformation("Seeded store {Store} with a postgres pipeline", store.Id);
        }

        var hash = TokenHasher.Hash(token);
        if (!await db.AccessTokens.AnyAsync(t => t.TokenHash == hash, cancellationToken))
        {
            db.AccessTokens.Add(new AccessToken
            {
                StoreId = store.Id,
                Name = "Dev token",
                TokenHash = hash,
                DisplayPrefix = TokenHasher.DisplayPrefix(token),
            });
            logger.LogInformation("Seeded the dev token {Prefix}...", TokenHasher.DisplayPrefix(token));
        }
        await db.SaveChangesAsync(cancellationToken);
    }
}
