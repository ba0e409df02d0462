using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using Beacon.TestHost;

namespace Beacon.AppHost.Tests;

/// <summary>The real AppHost, run as its own process on free ports with a data directory of the test's own.</summary>
internal sealed partial class AppHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private AppHostProcess(Process process, PortSet ports)
    {
        _process = process;
        Ports = ports;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public sealed record PortSet(int Postgres, int Redis, int Ingestion, int IngestionGrpc, int Admin, int Worker);

    public PortSet Ports { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string Output => string.Join('\n', _lines);

    public static PortSet NewPorts() =>
        new(FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());

    public static AppHostProcess Start(string dataDirectory, PortSet ports, IReadOnlyDictionary<string, string>? environment = null, params string[] arguments)
    {
        var root = RepositoryRoot();
        var configuration = typeof(AppHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "BuildConfiguration").Value!;
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        info.ArgumentList.Add(Path.Combine(root, "AppHost", "bin", configuration, "net10.0", "AppHost.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["AppHost__DataDirectory"] = dataDirectory;
        info.Environment["AppHost__Ports__Postgres"] = ports.Postgres.ToString();
        info.Environment["AppHost__Ports__Redis"] = ports.Redis.ToString();
        info.Environment["AppHost__Ports__Ingestion"] = ports.Ingestion.ToString();
        info.Environment["AppHost__Ports__IngestionGrpc"] = ports.IngestionGrpc.ToString();
        info.Environment["AppHost__Ports__Admin"] = ports.Admin.ToString();
        info.Environment["AppHost__Ports__Worker"] = ports.Worker.ToString();
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info)!;
        ProcessReaper.Track(process.Id);
        return new AppHostProcess(process, ports);
    }

    /// <summary>Waits for a log line containing <paramref name="text"/>; fails with the log if the AppHost exits first.</summary>
    public async Task WaitForLineAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (_process.HasExited)
            {
                throw new Xunit.Sdk.XunitException($"AppHost exited ({_process.ExitCode}) before '{text}':\n{Output}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No '{text}' within {timeout}:\n{Output}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>PIDs of every child the AppHost reported starting.</summary>
    public IReadOnlyList<(string Name, int Pid)> Children =>
        _lines.Select(l => StartedLine().Match(l)).Where(m => m.Success)
            .Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value))).ToList();

    /// <summary>Ctrl+C, as a person at the terminal would.</summary>
    public async Task InterruptAsync(TimeSpan timeout)
    {
        ProcessReaper.Signal(_process.Id, 2);
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        ProcessReaper.Untrack(_process.Id);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await InterruptAsync(TimeSpan.FromSeconds(60));
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }

    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Beacon.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Beacon.sln not found");
    }

    [GeneratedRegex(@"\[apphost\] started (\S+) \(pid (\d+)\)")]
    private static partial Regex StartedLine();
}
