using System.Runtime.InteropServices;

namespace Beacon.AppHost.Resources;

/// <summary>Signals a process and its descendants (a project runs as <c>dotnet run</c> → the service) and waits for them to exit.</summary>
internal static partial class ProcessTree
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static async Task SignalAndWaitAsync(int root, int signal, TimeSpan grace)
    {
        var tree = Of(root).Where(IsAlive).ToList();
        foreach (var pid in tree)
        {
            _ = Kill(pid, signal);
        }
        var deadline = DateTime.UtcNow + grace;
        while (tree.Any(IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        foreach (var pid in tree.Where(IsAlive))
        {
            _ = Kill(pid, SigKill);
        }
    }

    /// <summary>Alive and not a zombie waiting for its parent to reap it.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault() is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The process and every descendant it has now.</summary>
    public static IEnumerable<int> Of(int root) => Descendants(root).Prepend(root);

    private static IEnumerable<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    parents[pid] = int.Parse(fields[1]);
                }
                catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
                {
                }
            }
        }
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var parent))
        {
            foreach (var (child, _) in parents.Where(p => p.Value == parent))
            {
                result.Add(child);
                frontier.Enqueue(child);
            }
        }
        return result;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
