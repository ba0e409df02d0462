using Beacon.Core.Catalog;
using Beacon.Ingestion.Admission;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// A batch for one store, already authenticated. <paramref name="Family"/> decides the catalog (Layers for
/// <c>/beacon</c> and gRPC, Alana for <c>/api/v1/events</c>) and the field names used in rejection reasons.
/// A <paramref name="DryRun"/> validates only: nothing is deduplicated, queued or counted as dropped.
/// </summary>
public sealed record IngestRequest(
    StoreToken Token,
    string Source,
    EventFamily Family,
    IReadOnlyList<IncomingEvent> Events,
    ClientInfo Client,
    bool DryRun = false);
