using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>A replay and its progress, as the API and the pages show it.</summary>
public sealed record ReplayDto(Guid Id, Guid PipelineId, DateTimeOffset From, DateTimeOffset To, string Status, long? Total, long Scanned,
    long Sent, long Skipped, string? Error, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt)
{
    public static ReplayDto Of(Replay r) => new(r.Id, r.PipelineId, r.From, r.To, r.Status, r.Total, r.Scanned, r.Sent, r.Skipped, r.Error,
        r.CreatedAt, r.StartedAt, r.CompletedAt);

    /// <summary>Share of the window read so far, 0–100; null before the worker counted it.</summary>
    public int? Percent => Total is > 0 ? (int)Math.Min(100, Scanned * 100 / Total.Value) : Total == 0 ? 100 : null;
}

/// <summary>
/// Queues replays of a window of archived events into a pipeline; a worker runs them (<c>ReplayRunner</c>). Nothing
/// is sent from here: the request answers at once and progress is read back.
/// </summary>
public sealed class ReplayService(BeaconDbContext db)
{
    public static Dictionary<string, string[]> Validate(DateTimeOffset? from, DateTimeOffset? to)
    {
        var errors = new Dictionary<string, string[]>();
        if (from is null || to is null)
        {
            errors["window"] = ["Give `from` and `to` (ISO 8601 instants): the events received in [from, to) are replayed."];
        }
        else if (from >= to)
        {
            errors["window"] = ["`from` must be before `to`."];
        }
        return errors;
    }

    public async Task<Replay> CreateAsync(Pipeline pipeline, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var replay = new Replay { StoreId = pipeline.StoreId, PipelineId = pipeline.Id, From = from.ToUniversalTime(), To = to.ToUniversalTime() };
        db.Replays.Add(replay);
        await db.SaveChangesAsync(cancellationToken);
        return replay;
    }

    public Task<Replay?> FindAsync(Guid storeId, Guid replayId, CancellationToken cancellationToken) =>
        db.Replays.AsNoTracking().FirstOrDefaultAsync(r => r.Id == replayId && r.StoreId == storeId, cancellationToken);

    public Task<List<Replay>> ListAsync(Guid storeId, Guid pipelineId, int limit, CancellationToken cancellationToken) =>
        db.Replays.AsNoTracking()
            .Where(r => r.StoreId == storeId && r.PipelineId == pipelineId)
            .OrderByDescending(r => r.CreatedAt)
            .Take(Math.Clamp(limit, 1, 200))
            .ToListAsync(cancellationToken);
}
