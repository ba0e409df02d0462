using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Beacon.TestHost;

/// <summary>
/// Remembers the servers a test run started and kills them when the test process exits, so an aborted
/// run leaves no Postgres or Redis behind.
/// </summary>
public static partial class ProcessReaper
{
    public const int SigKill = 9;
    public const int SigQuit = 3;
    public const int SigTerm = 15;

    private static readonly ConcurrentDictionary<int, byte> Tracked = new();

    static ProcessReaper()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    public static void Track(int pid) => Tracked[pid] = 0;

    public static void Untrack(int pid) => Tracked.TryRemove(pid, out _);

    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    public static bool IsAlive(int pid) => kill(pid, 0) == 0;

    public static async Task WaitForExitAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsAlive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                Signal(pid, SigKill);
                return;
            }
            await Task.Delay(20);
        }
    }

    private static void KillAll()
    {
        foreach (var pid in Tracked.Keys)
        {
            Signal(pid, SigKill);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
