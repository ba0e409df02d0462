using Beacon.Core.Catalog;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// The outcome of a batch. <see cref="Accepted"/> counts every event that is durably queued, including
/// <see cref="Duplicates"/> (already queued earlier within the dedup window, so not queued again).
/// </summary>
public sealed record IngestResult(int Accepted, int Duplicates, IReadOnlyList<EventRejection> Rejections)
{
    public int Rejected => Rejections.Count;
}
