using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.Delivery;

/// <summary>
/// Webhook signing secrets at rest: <see cref="Pipeline.Secret"/> and <see cref="Pipeline.PreviousSecret"/> hold
/// them sealed (<see cref="SecretBox"/> under the master key), so a <c>pg_dump</c> shows no <c>whsec_</c>.
/// Admin.Web seals new and rotated secrets and opens them for the test button; the worker opens them to sign.
/// </summary>
public sealed class WebhookSecretProtector(MasterKey masterKey)
{
    private const string Purpose = "beacon:webhook-secret:v1";

    private const string ValidateConstraintsSql =
        "ALTER TABLE pipelines VALIDATE CONSTRAINT " + BeaconDbContext.SecretSealedConstraint + "; " +
        "ALTER TABLE pipelines VALIDATE CONSTRAINT " + BeaconDbContext.PreviousSecretSealedConstraint + ";";

    private readonly SecretBox _box = new(masterKey, Purpose);

    public string Seal(string secret) => _box.Seal(secret);

    public string Open(string sealedSecret) => _box.Open(sealedSecret);

    /// <summary>The opened secrets a delivery of <paramref name="pipeline"/> is signed with.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">Sealed under another master key.</exception>
    public WebhookSecrets SecretsOf(Pipeline pipeline) =>
        new(Open(pipeline.Secret),
            string.IsNullOrEmpty(pipeline.PreviousSecret) ? null : Open(pipeline.PreviousSecret),
            pipeline.PreviousSecretExpiresAt);

    /// <summary>
    /// Seals the secrets still stored in plaintext (rows written before secrets were encrypted), then validates the
    /// check constraints the migration added <c>NOT VALID</c>. Idempotent: sealed values are recognised by their
    /// prefix and left alone. Runs after the migrations (the <c>migrate</c> command); a row changed by another run
    /// meanwhile is left to that run.
    /// </summary>
    public async Task<int> SealPlaintextSecretsAsync(BeaconDbContext db, CancellationToken cancellationToken)
    {
        var rows = await db.Pipelines
            .Where(p => !p.Secret.StartsWith(SecretBox.Prefix)
                || (p.PreviousSecret != null && !p.PreviousSecret.StartsWith(SecretBox.Prefix)))
            .Select(p => new { p.Id, p.Secret, p.PreviousSecret })
            .ToListAsync(cancellationToken);
        var sealedRows = 0;
        foreach (var row in rows)
        {
            var secret = SecretBox.IsSealed(row.Secret) ? row.Secret : Seal(row.Secret);
            var previous = string.IsNullOrEmpty(row.PreviousSecret) ? null
                : SecretBox.IsSealed(row.PreviousSecret) ? row.PreviousSecret
                : Seal(row.PreviousSecret);
            sealedRows += await db.Pipelines
                .Where(p => p.Id == row.Id && p.Secret == row.Secret && p.PreviousSecret == row.PreviousSecret)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.Secret, secret).SetProperty(p => p.PreviousSecret, previous), cancellationToken);
        }
        await db.Database.ExecuteSqlRawAsync(ValidateConstraintsSql, cancellationToken);
        return sealedRows;
    }
}
