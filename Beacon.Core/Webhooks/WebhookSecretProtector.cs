using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.Webhooks;

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
    /// Seals the secrets still stored in plaintext (rows written before secrets were encrypted). Idempotent:
    /// sealed values are recognised by their prefix and left alone. Runs after the migrations.
    /// Several processes running it at once seal a row twice at worst, which still opens.
    /// </summary>
    public async Task<int> SealPlaintextSecretsAsync(BeaconDbContext db, CancellationToken cancellationToken)
    {
        var plaintext = await db.Pipelines
            .Where(p => !p.Secret.StartsWith(SecretBox.Prefix)
                || (p.PreviousSecret != null && !p.PreviousSecret.StartsWith(SecretBox.Prefix)))
            .ToListAsync(cancellationToken);
        foreach (var pipeline in plaintext)
        {
            if (!SecretBox.IsSealed(pipeline.Secret))
            {
                pipeline.Secret = Seal(pipeline.Secret);
            }
            pipeline.PreviousSecret = string.IsNullOrEmpty(pipeline.PreviousSecret) || SecretBox.IsSealed(pipeline.PreviousSecret)
                ? NullIfEmpty(pipeline.PreviousSecret)
                : Seal(pipeline.PreviousSecret);
        }
        await db.SaveChangesAsync(cancellationToken);
        // The migration added the constraints NOT VALID; with every row sealed they now hold for the whole table.
        await db.Database.ExecuteSqlRawAsync(ValidateConstraintsSql, cancellationToken);
        return plaintext.Count;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
