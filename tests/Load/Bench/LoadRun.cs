namespace Beacon.Bench;

/// <summary>What a load run achieved: events accepted per second (2xx answers or acks only), failed requests or calls.</summary>
internal sealed record LoadRun(double EventsPerSecond, long Errors, double Seconds);
