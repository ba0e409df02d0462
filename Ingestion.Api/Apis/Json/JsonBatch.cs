using Beacon.Ingestion.Intake;

namespace Beacon.Ingestion.Apis.Json;

/// <summary>A JSON batch read into the shared path's terms, or the top-level problems that make it a 422.</summary>
public sealed record JsonBatch(IReadOnlyList<IncomingEvent> Events, IReadOnlyList<string> Errors);
