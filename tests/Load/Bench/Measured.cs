namespace Beacon.Bench;

/// <summary>One load run of the system and what followed it until the worker had drained it.</summary>
internal sealed record Measured(
    LoadRun Load, int EventsPerRequest, long Appended, Dictionary<string, double> Cpu, double TableRate, double WebhookRate,
    long LagEvents, TimeSpan? Drain, long Duplicates);
