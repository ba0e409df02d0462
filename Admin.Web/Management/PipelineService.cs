using Beacon.Core.Catalog;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.Core.Delivery;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Management;

/// <param name="BatchSize">Events per delivery; null for the worker's default of the kind.</param>
/// <param name="LingerMs">How long a batch waits to fill; null for the worker's default of the kind.</param>
/// <param name="RequiredConsent">Consent categories an event must carry to be delivered; empty requires none.</param>
/// <param name="HashFields">Identifier fields delivered hashed (<see cref="DeletionIdentifiers.All"/>); empty sends them raw.</param>
public sealed record PipelineInput(string Name, string Kind, string? Url, IReadOnlyList<string> EventTypes, bool Enabled,
    int? BatchSize = null, int? LingerMs = null, IReadOnlyList<string>? RequiredConsent = null, IReadOnlyList<string>? HashFields = null);

/// <summary>A pipeline just created or re-keyed: <see cref="Secret"/> is shown this once.</summary>
public sealed record PipelineWithSecret(Pipeline Entity, string Secret);

/// <summary>
/// Pipelines of a store. Every change is announced with <c>ConfigChange.Store</c> so ingestion and
/// the worker pick it up within a second.
/// </summary>
public sealed class PipelineService(
    BeaconDbContext db, ChangeNotifier notifier, DestinationGuard guard, WebhookSecretProtector secrets,
    IOptions<AdminOptions> options, ILogger<PipelineService> logger)
{
    public Task<List<Pipeline>> ListAsync(Guid storeId, CancellationToken cancellationToken) =>
        db.Pipelines.AsNoTracking().Where(p => p.StoreId == storeId).OrderBy(p => p.Name).ToListAsync(cancellationToken);

    public Task<Pipeline?> FindAsync(Guid storeId, Guid pipelineId, CancellationToken cancellationToken) =>
        db.Pipelines.AsNoTracking().FirstOrDefaultAsync(p => p.Id == pipelineId && p.StoreId == storeId, cancellationToken);

    /// <summary>The input's errors by field; a webhook URL is checked against what <paramref name="store"/> may reach.</summary>
    public Dictionary<string, string[]> Validate(PipelineInput input, Store store)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(input.Name) || input.Name.Length > 200)
        {
            errors["name"] = ["Give the pipeline a name of 1 to 200 characters."];
        }
        if (!PipelineKinds.All.Contains(input.Kind))
        {
            errors["kind"] = [$"Kind must be one of: {string.Join(", ", PipelineKinds.All)}."];
        }
        else if (input.Kind == PipelineKinds.Webhook && DestinationGuard.ValidateUrl(input.Url?.Trim(), guard.ScopeFor(store.AllowedPrivateNetworks)) is { } urlError)
        {
            errors["url"] = [urlError];
        }
        if (input.BatchSize is { } size && (size < 1 || size > PipelineSettings.MaxBatchSizeOf(input.Kind)))
        {
            errors["batchSize"] = [$"The batch size of a {input.Kind} pipeline is 1 to {PipelineSettings.MaxBatchSizeOf(input.Kind)} events (leave empty for the default)."];
        }
        if (input.LingerMs is < 0 or > PipelineSettings.MaxLingerMs)
        {
            errors["lingerMs"] = [$"Linger is 0 to {PipelineSettings.MaxLingerMs} milliseconds (leave empty for the default)."];
        }
        var consent = input.RequiredConsent ?? [];
        if (consent.Count > EventCatalog.MaxConsentCategories
            || consent.Any(c => string.IsNullOrWhiteSpace(c) || c.Trim().Length > EventCatalog.Consent.MaxLength))
        {
            errors["requiredConsent"] = [$"At most {EventCatalog.MaxConsentCategories} consent categories of 1 to {EventCatalog.Consent.MaxLength} characters."];
        }
        if ((input.HashFields ?? []).Where(f => !DeletionIdentifiers.All.Contains(f)).ToList() is { Count: > 0 } notIdentifiers)
        {
            errors["hashFields"] = [$"Only identifier fields can be hashed ({string.Join(", ", DeletionIdentifiers.All)}), not: {string.Join(", ", notIdentifiers)}."];
        }
        var unknown = input.EventTypes.Where(t => !EventCatalog.IsKnown(t)).ToList();
        if (unknown.Count > 0)
        {
            errors["eventTypes"] = [$"Unknown event types: {string.Join(", ", unknown)}."];
        }
        return errors;
    }

    /// <exception cref="StoreQuotaExceededException">The store has <see cref="AdminOptions.MaxPipelinesPerStore"/> pipelines already.</exception>
    public async Task<PipelineWithSecret> CreateAsync(Guid storeId, PipelineInput input, CancellationToken cancellationToken)
    {
        var secret = WebhookSecret.New();
        var pipeline = new Pipeline
        {
            StoreId = storeId,
            Name = input.Name.Trim(),
            Kind = input.Kind,
            Secret = secrets.Seal(secret),
        };
        Apply(pipeline, input);
        await db.AddWithinQuotaAsync(storeId, pipeline, db.Pipelines.Where(p => p.StoreId == storeId),
            options.Value.MaxPipelinesPerStore, "pipelines", cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Created {Kind} pipeline {PipelineId} for store {StoreId}", pipeline.Kind, pipeline.Id, storeId);
        return new PipelineWithSecret(pipeline, secret);
    }

    public async Task<Pipeline?> UpdateAsync(Guid storeId, Guid pipelineId, PipelineInput input, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == pipelineId && p.StoreId == storeId, cancellationToken);
        if (pipeline is null)
        {
            return null;
        }
        pipeline.Name = input.Name.Trim();
        pipeline.Kind = input.Kind;
        Apply(pipeline, input);
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Updated pipeline {PipelineId} of store {StoreId}", pipelineId, storeId);
        return pipeline;
    }

    public async Task<Pipeline?> SetEnabledAsync(Guid storeId, Guid pipelineId, bool enabled, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == pipelineId && p.StoreId == storeId, cancellationToken);
        if (pipeline is null)
        {
            return null;
        }
        pipeline.Enabled = enabled;
        pipeline.DisabledReason = enabled ? null : "Disabled in Admin.Web";
        if (enabled)
        {
            // A fresh start: the five-day failure clock must not disable it again at once.
            pipeline.FailingSince = null;
        }
        pipeline.UpdatedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        return pipeline;
    }

    /// <summary>
    /// Deletes a pipeline with its parked retries, dead letters and delivery stats (foreign keys cascade); rows it
    /// already wrote to the events table stay, as the store's data (retention and deletions cover them). Workers
    /// stop routing to it within a second; a batch already in its lane finds no row to park in and is dropped.
    /// </summary>
    public async Task<bool> DeleteAsync(Guid storeId, Guid pipelineId, CancellationToken cancellationToken)
    {
        var deleted = await db.Pipelines.Where(p => p.Id == pipelineId && p.StoreId == storeId).ExecuteDeleteAsync(cancellationToken);
        if (deleted == 0)
        {
            return false;
        }
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Deleted pipeline {PipelineId} of store {StoreId}", pipelineId, storeId);
        return true;
    }

    /// <summary>
    /// A new signing secret. The old one stays valid for the configured overlap: deliveries carry both
    /// signatures until then, so receivers can switch without losing a request.
    /// </summary>
    public async Task<PipelineWithSecret?> RotateSecretAsync(Guid storeId, Guid pipelineId, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == pipelineId && p.StoreId == storeId, cancellationToken);
        if (pipeline is null)
        {
            return null;
        }
        pipeline.PreviousSecret = pipeline.Secret;
        pipeline.PreviousSecretExpiresAt = DateTimeOffset.UtcNow + options.Value.SecretRotationOverlap;
        var secret = WebhookSecret.New();
        pipeline.Secret = secrets.Seal(secret);
        pipeline.UpdatedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
        await notifier.StoreChangedAsync(storeId, cancellationToken);
        logger.LogInformation("Rotated the secret of pipeline {PipelineId}; the old one expires at {ExpiresAt}", pipelineId, pipeline.PreviousSecretExpiresAt);
        return new PipelineWithSecret(pipeline, secret);
    }

    private static void Apply(Pipeline pipeline, PipelineInput input)
    {
        pipeline.Url = input.Kind == PipelineKinds.Webhook ? input.Url?.Trim() : null;
        // Only catalog names, in catalog order, so the filter reads the same wherever it is shown.
        pipeline.EventTypes = EventCatalog.Names.Where(input.EventTypes.Contains).ToList();
        PipelineSettings.Set(pipeline, input.BatchSize, input.LingerMs);
        pipeline.RequiredConsent = (input.RequiredConsent ?? []).Select(c => c.Trim()).Distinct(StringComparer.Ordinal).ToList();
        // In the catalog's order, like the event types.
        pipeline.HashFields = DeletionIdentifiers.All.Where((input.HashFields ?? []).Contains).ToList();
        if (pipeline.Enabled != input.Enabled)
        {
            pipeline.Enabled = input.Enabled;
            pipeline.DisabledReason = input.Enabled ? null : "Disabled in Admin.Web";
            pipeline.FailingSince = input.Enabled ? null : pipeline.FailingSince;
        }
        pipeline.UpdatedAt = DateTimeOffset.UtcNow;
    }
}
