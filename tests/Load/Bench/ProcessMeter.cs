namespace Beacon.Bench;

/// <summary>CPU seconds per role over a window, and the peak memory per role while it runs.</summary>
internal sealed class ProcessMeter(Func<Dictionary<string, List<int>>> processes)
{
    private readonly Dictionary<string, long> _peakBytes = [];

    public IReadOnlyDictionary<string, long> PeakBytes => _peakBytes;

    public Dictionary<string, double> Cpu()
    {
        var cpu = new Dictionary<string, double>();
        foreach (var (role, pids) in processes())
        {
            // Postgres forks a backend per connection: the postmaster's reaped children count too.
            cpu[role] = pids.Sum(pid => ProcStat.CpuSeconds(pid, reapedChildren: role == BeaconSystem.Postgres && pid == pids[0]));
        }
        return cpu;
    }

    public static Dictionary<string, double> Delta(Dictionary<string, double> after, Dictionary<string, double> before) =>
        after.ToDictionary(p => p.Key, p => p.Value - before.GetValueOrDefault(p.Key));

    /// <summary>Samples memory every half second until cancelled: RSS per service process, PSS summed over Postgres's processes, RSS summed over the orchestration's.</summary>
    public async Task SampleMemoryAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var (role, pids) in processes())
            {
                var bytes = role switch
                {
                    BeaconSystem.Postgres => pids.Sum(pid => ProcStat.MemoryBytes(pid, proportional: true)),
                    BeaconSystem.Orchestration => pids.Sum(pid => ProcStat.MemoryBytes(pid, proportional: false)),
                    // Per process: with replicas, the largest one.
                    _ => pids.Max(pid => ProcStat.MemoryBytes(pid, proportional: false)),
                };
                lock (_peakBytes)
                {
                    _peakBytes[role] = Math.Max(_peakBytes.GetValueOrDefault(role), bytes);
                }
            }
            try
            {
                await Task.Delay(500, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
