using System.Collections.Concurrent;
using Beacon.Core.Data;
using Beacon.Worker.Routing;
using Microsoft.Extensions.Options;

namespace Beacon.Worker.Delivery;

/// <summary>The lanes of every pipeline this worker has seen, created on first use; stops them all at shutdown.</summary>
public sealed class PipelineLanes(
    IEnumerable<IPipelineDestination> destinations,
    DeliveryOutcomes outcomes,
    DeletionDrops deletionDrops,
    IOptions<WorkerOptions> options,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, (PipelineLane Lane, Task Run)> _lanes = new();
    private readonly Dictionary<string, IPipelineDestination> _destinations = destinations.ToDictionary(d => d.Kind);
    private readonly CancellationTokenSource _stopping = new();

    public PipelineLane For(Pipeline pipeline)
    {
        var entry = _lanes.GetOrAdd(pipeline.Id, _ =>
        {
            var lane = new PipelineLane(pipeline, DestinationOf, outcomes, deletionDrops, options.Value, loggerFactory.CreateLogger<PipelineLane>());
            return (lane, Task.Run(() => lane.RunAsync(_stopping.Token)));
        });
        entry.Lane.Update(pipeline);
        return entry.Lane;
    }

    public bool Knows(string kind) => _destinations.ContainsKey(kind);

    public IPipelineDestination DestinationOf(Pipeline pipeline) =>
        _destinations.TryGetValue(pipeline.Kind, out var destination)
            ? destination
            : throw new InvalidOperationException($"Pipeline {pipeline.Id} has unknown kind '{pipeline.Kind}'");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
        await _stopping.CancelAsync();
        await Task.WhenAll(_lanes.Values.Select(l => l.Run));
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }
}
