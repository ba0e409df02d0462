using System.Globalization;

// Everything here reads /proc.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Beacon.Bench;

/// <summary>What /proc says about a process: parent, command line, CPU time, memory.</summary>
internal static class ProcStat
{
    // USER_HZ: the unit of the times in /proc/<pid>/stat, 100 on every Linux this runs on.
    private const double TicksPerSecond = 100;

    public static int? Parent(int pid) => Fields(pid) is { } f ? int.Parse(f[1], CultureInfo.InvariantCulture) : null;

    public static bool IsAlive(int pid) => Fields(pid) is { } f && f[0] is not ("Z" or "X");

    public static string[] CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>
    /// User plus system CPU seconds of the process; with <paramref name="reapedChildren"/> also of its children that
    /// exited and were waited for (a Postgres backend that ended still counts).
    /// </summary>
    public static double CpuSeconds(int pid, bool reapedChildren = false)
    {
        if (Fields(pid) is not { } f)
        {
            return 0;
        }
        double Ticks(int index) => double.Parse(f[index], CultureInfo.InvariantCulture);
        // Fields after the command name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
        var ticks = Ticks(11) + Ticks(12) + (reapedChildren ? Ticks(13) + Ticks(14) : 0);
        return ticks / TicksPerSecond;
    }

    /// <summary>Resident memory in bytes; <paramref name="proportional"/> counts shared pages once across processes (PSS).</summary>
    public static long MemoryBytes(int pid, bool proportional)
    {
        try
        {
            var (file, key) = proportional ? ($"/proc/{pid}/smaps_rollup", "Pss:") : ($"/proc/{pid}/status", "VmRSS:");
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }

    private static string[]? Fields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }
}
