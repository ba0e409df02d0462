using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Beacon.Ingestion.Readiness;

/// <summary><c>/health</c> (and gRPC health) stays Unhealthy, saying what is pending, until <see cref="IngestionWarmUp"/> is done.</summary>
public sealed class WarmUpHealthCheck(IngestionWarmUp warmUp) : IHealthCheck
{
    public const string Name = "warm-up";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(warmUp.Pending is { } pending
            ? new HealthCheckResult(context.Registration.FailureStatus, $"Warming up: {pending}")
            : HealthCheckResult.Healthy());
}
