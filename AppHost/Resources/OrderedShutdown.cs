using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Stops the system in the order that loses nothing: the services first (they finish in-flight requests and
/// acks against a live Redis and Postgres), then Redis (SIGTERM: the AOF is flushed), then Postgres (SIGINT: fast
/// shutdown, a clean checkpoint). DCP alone would signal everything at once and kill what is left ~6 s later,
/// so this runs in the host's stopping phase, before DCP's own clean-up.
/// </summary>
internal sealed class OrderedShutdown(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    InstanceLock instanceLock,
    ILogger<OrderedShutdown> logger) : IHostedLifecycleService
{
    private static readonly TimeSpan ServiceGrace = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ServerGrace = TimeSpan.FromSeconds(30);

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var services = model.Resources.OfType<ProjectResource>().ToList();
        await Task.WhenAll(services.Select(s => StopAsync(s, ProcessTree.SigTerm, ServiceGrace)));
        foreach (var redis in model.Resources.OfType<RedisServerResource>())
        {
            await StopAsync(redis, ProcessTree.SigTerm, ServerGrace);
        }
        foreach (var postgres in model.Resources.OfType<PostgresServerResource>())
        {
            if (postgres.PostmasterPid() is { } postmaster)
            {
                await ProcessTree.SignalAndWaitAsync(postmaster, ProcessTree.SigInt, ServerGrace);
            }
            await StopAsync(postgres, ProcessTree.SigInt, ServerGrace);
        }
        logger.LogInformation("Every resource is stopped");
    }

    private async Task StopAsync(IResource resource, int signal, TimeSpan grace)
    {
        var pids = _pids.Values.Where(p => p.Resource == resource).Select(p => p.Pid).ToList();
        await Task.WhenAll(pids.Select(pid => ProcessTree.SignalAndWaitAsync(pid, signal, grace)));
        if (pids.Count > 0)
        {
            logger.LogInformation("Stopped {Resource}", resource.Name);
        }
    }

    private static int? Pid(CustomResourceSnapshot snapshot) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
        {
            int pid => pid,
            long pid => (int)pid,
            string text when int.TryParse(text, out var pid) => pid,
            _ => null,
        };

    /// <summary>Every instance's pid (replicas are instances of one resource), as DCP reports them.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (IResource Resource, int Pid)> _pids = new();
    private readonly CancellationTokenSource _watching = new();

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var update in notifications.WatchAsync(_watching.Token))
                {
                    if (Pid(update.Snapshot) is { } pid)
                    {
                        _pids[update.ResourceId] = (update.Resource, pid);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        _watching.Cancel();
        // Postgres and Redis are down: the data directory is free for the next AppHost.
        instanceLock.Dispose();
        return Task.CompletedTask;
    }
}
