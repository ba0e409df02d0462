using Beacon.Protos.Queue;

namespace Beacon.Ingestion.Intake;

/// <summary>Where a batch came in (the <c>source</c> of <see cref="EnrichedEvent"/>).</summary>
public static class IngestSources
{
    public const string Beacon = "beacon";
    public const string Grpc = "grpc";
    public const string V1Events = "v1-events";
}
