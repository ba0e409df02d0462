using System.Collections.Concurrent;
using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.AppHost.Tests;

/// <summary>
/// The workers' console lines that contain one of a few words (and the line after each, where the console logger
/// writes the message under its <c>warn: Category</c> line), stamped with the time since the watch began.
/// </summary>
internal sealed class WorkerLog : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly List<Task> _watchers = [];

    public IEnumerable<string> Lines => _lines;

    public static WorkerLog Watch(FaultSystem faults, string[] words)
    {
        var log = new WorkerLog();
        var logs = faults.System.App.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var (resourceId, _) in faults.Replicas("worker"))
        {
            log._watchers.Add(Task.Run(async () =>
            {
                var next = false;
                try
                {
                    await foreach (var batch in logs.WatchAsync(resourceId).WithCancellation(log._stop.Token))
                    {
                        foreach (var line in batch)
                        {
                            if (next || words.Any(w => line.Content.Contains(w, StringComparison.Ordinal)))
                            {
                                log._lines.Enqueue($"{log._clock.Elapsed.TotalSeconds,7:0.0} s {resourceId}: {line.Content}");
                            }
                            next = line.Content.Contains("warn:", StringComparison.Ordinal) || line.Content.Contains("fail:", StringComparison.Ordinal)
                                   || line.Content.Contains("info: Beacon.Worker.Consuming", StringComparison.Ordinal);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }));
        }
        return log;
    }

    public void Mark(string what) => _lines.Enqueue($"{_clock.Elapsed.TotalSeconds,7:0.0} s test: {what}");

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_watchers);
        _stop.Dispose();
    }
}
