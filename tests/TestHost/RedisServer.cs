using System.Diagnostics;
using StackExchange.Redis;

namespace Beacon.TestHost;

/// <summary>A throwaway <c>redis-server</c> on a free port, which a test can stop and start again on the same port.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly bool _appendOnly;
    private Process? _process;

    private RedisServer(string root, int port, bool appendOnly)
    {
        Root = root;
        Port = port;
        _appendOnly = appendOnly;
    }

    public string Root { get; }
    public int Port { get; }
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Connection string for StackExchange.Redis; admin commands allowed (INFO, CONFIG) for tests.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},allowAdmin=true,abortConnect=false,connectTimeout=2000,syncTimeout=5000";

    /// <summary><paramref name="appendFsync"/> <c>always</c> for a test that kills Redis and expects every acknowledged
    /// write back: with <c>everysec</c> Redis may hold a write back up to 2 s while a slow fsync runs.</summary>
    public static async Task<RedisServer> StartAsync(bool appendOnly = false, string appendFsync = "everysec")
    {
        var root = Directory.CreateTempSubdirectory("beacon-test-redis-").FullName;
        var server = new RedisServer(root, FreePort.Next(), appendOnly) { _appendFsync = appendFsync };
        await server.StartAsync();
        return server;
    }

    private string _appendFsync = "everysec";

    public async Task StartAsync()
    {
        if (IsRunning)
        {
            return;
        }
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        foreach (var argument in new[]
                 {
                     "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", Root, "--save", "",
                     "--appendonly", _appendOnly ? "yes" : "no", "--daemonize", "no", "--protected-mode", "no",
                     "--appendfsync", _appendFsync,
                 })
        {
            info.ArgumentList.Add(argument);
        }
        _process = Process.Start(info) ?? throw new InvalidOperationException("Could not start redis-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        ProcessReaper.Track(_process.Id);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},connectTimeout=500");
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Kills the server (SIGKILL), as a crash or an outage would.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        ProcessReaper.Untrack(_process.Id);
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
