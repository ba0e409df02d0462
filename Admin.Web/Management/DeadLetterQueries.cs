using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>Filter of the dead-letter list; every part is optional.</summary>
public sealed record DeadLetterFilter(string? EventType = null, int? Status = null, DateTimeOffset? From = null, DateTimeOffset? To = null, int Limit = 100);

/// <summary>Reads a pipeline's dead letters; replay and discard are Beacon.Core's <c>DeadLetterService</c>.</summary>
public sealed class DeadLetterQueries(BeaconDbContext db)
{
    public Task<List<DeadLetter>> ListAsync(Guid pipelineId, DeadLetterFilter filter, CancellationToken cancellationToken)
    {
        var query = db.DeadLetters.AsNoTracking().Where(d => d.PipelineId == pipelineId);
        if (!string.IsNullOrWhiteSpace(filter.EventType))
        {
            query = query.Where(d => d.EventType == filter.EventType);
        }
        if (filter.Status is { } status)
        {
            query = query.Where(d => d.LastStatus == status);
        }
        if (filter.From is { } from)
        {
            query = query.Where(d => d.CreatedAt >= from);
        }
        if (filter.To is { } to)
        {
            query = query.Where(d => d.CreatedAt < to);
        }
        return query.OrderByDescending(d => d.CreatedAt).ThenByDescending(d => d.Id)
            .Take(Math.Clamp(filter.Limit, 1, 1000)).ToListAsync(cancellationToken);
    }

    public Task<int> CountAsync(Guid pipelineId, CancellationToken cancellationToken) =>
        db.DeadLetters.CountAsync(d => d.PipelineId == pipelineId, cancellationToken);
}
