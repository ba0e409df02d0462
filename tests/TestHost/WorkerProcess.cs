using System.Diagnostics;
using System.Text;

namespace Beacon.TestHost;

/// <summary>
/// Pipelines.Worker running as its own OS process (<c>dotnet Pipelines.Worker.dll</c>) with its settings in
/// environment variables, so a test can SIGKILL it mid-batch like a crash would.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private WorkerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Pid => _process.Id;
    public int Port { get; }
    public string Output { get { lock (_output) { return _output.ToString(); } } }

    public static async Task<WorkerProcess> StartAsync(IReadOnlyDictionary<string, string?> settings)
    {
        var port = FreePort.Next();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(WorkerDll());
        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__")] = value;
        }
        info.Environment["Kestrel__Endpoints__http__Url"] = $"http://127.0.0.1:{port}";
        info.Environment["DOTNET_ENVIRONMENT"] = "Testing";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the worker");
        ProcessReaper.Track(process.Id);
        var worker = new WorkerProcess(process, port);
        process.OutputDataReceived += (_, e) => worker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Worker exited with {process.ExitCode}: {worker.Output}");
            }
            try
            {
                var response = await http.GetAsync($"http://127.0.0.1:{port}/alive");
                if (response.IsSuccessStatusCode)
                {
                    return worker;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Worker did not come up: {worker.Output}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL: no shutdown hooks, no final acks, exactly like a crash.</summary>
    public async Task KillAsync()
    {
        ProcessReaper.Signal(Pid, ProcessReaper.SigKill);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            ProcessReaper.Signal(Pid, ProcessReaper.SigTerm);
            await ProcessReaper.WaitForExitAsync(Pid, TimeSpan.FromSeconds(20));
        }
        ProcessReaper.Untrack(Pid);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static string WorkerDll()
    {
        // The worker's own build output (with its runtimeconfig and deps), built with the test project that runs it.
        var here = AppContext.BaseDirectory;
        var dir = new DirectoryInfo(here);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Beacon.sln")))
        {
            dir = dir.Parent;
        }
        if (dir is null)
        {
            throw new InvalidOperationException($"No Beacon.sln above {here}");
        }
        var configuration = here.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        var dll = Path.Combine(dir.FullName, "Pipelines.Worker", "bin", configuration, "net10.0", "Pipelines.Worker.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build Pipelines.Worker first", dll);
    }
}
