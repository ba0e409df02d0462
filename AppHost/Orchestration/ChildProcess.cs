using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Beacon.AppHost.Orchestration;

/// <summary>
/// A child process with prefixed logs. Children run in their own session (<c>setsid</c>) so a terminal's Ctrl+C
/// reaches only the AppHost, which then stops them in dependency order.
/// </summary>
internal sealed partial class ChildProcess : IAsyncDisposable
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private readonly Process _process;
    private readonly ConsoleColor _color;

    private ChildProcess(string name, Process process, ConsoleColor color)
    {
        Name = name;
        _process = process;
        _color = color;
    }

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public Task Exited => _process.WaitForExitAsync();

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?> environment, string workingDirectory)
    {
        var info = new ProcessStartInfo(File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
        };
        if (info.FileName == "/usr/bin/setsid")
        {
            info.ArgumentList.Add(fileName);
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}");
        var child = new ChildProcess(name, process, ConsoleLog.NextColor());
        process.OutputDataReceived += (_, e) => child.Write(e.Data);
        process.ErrorDataReceived += (_, e) => child.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        ConsoleLog.Info($"started {name} (pid {process.Id})");
        return child;
    }

    private void Write(string? line)
    {
        if (line is not null)
        {
            ConsoleLog.Line(Name, _color, line);
        }
    }

    /// <summary>Sends <paramref name="signal"/> (to <paramref name="pid"/>, default the child itself), waits, then kills what is left.</summary>
    public async Task StopAsync(TimeSpan grace, int signal = SigTerm, int? pid = null)
    {
        if (_process.HasExited)
        {
            return;
        }
        _ = kill(pid ?? _process.Id, signal);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            ConsoleLog.Error($"{Name} did not stop within {grace.TotalSeconds:0}s; killing it");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public ValueTask DisposeAsync()
    {
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    public static bool IsAlive(int pid) => kill(pid, 0) == 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
