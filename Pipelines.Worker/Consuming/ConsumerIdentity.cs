using Microsoft.Extensions.Options;

namespace Beacon.Worker.Consuming;

/// <summary>This process's consumer name in the group: unique, so a restarted worker never mistakes another's entries for its own.</summary>
public sealed class ConsumerIdentity(IOptions<WorkerOptions> options)
{
    public string Name { get; } = string.IsNullOrWhiteSpace(options.Value.ConsumerName)
        ? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}"
        : options.Value.ConsumerName;
}
