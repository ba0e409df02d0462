using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Intake;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Apis;

/// <summary>What the JSON doors need, bound with <c>[AsParameters]</c>.</summary>
public readonly record struct IngestionServices(
    IngestPath Pipeline,
    ClientInfoReader ClientInfo,
    Admitter Admitter,
    IngestionMetrics Metrics,
    IOptions<IngestionOptions> Options);
