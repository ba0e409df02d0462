using System.Net.Sockets;

namespace Beacon.AppHost.Orchestration;

/// <summary>redis-server with AOF on (<c>appendfsync</c> everysec by default, <c>always</c> selectable), data under <c>.beacon/redis</c>.</summary>
internal sealed class RedisResource(string dataRoot, int port, string appendFsync) : IAsyncDisposable
{
    private ChildProcess? _process;

    public string ConnectionString => $"127.0.0.1:{port}";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var directory = Path.Combine(dataRoot, "redis");
        Directory.CreateDirectory(directory);
        _process = ChildProcess.Start("redis", "redis-server",
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes",
             "--appendfsync", appendFsync, "--save", "", "--daemonize", "no",
             // A dedup hash of a busy store holds a day of event ids; free it in the background when it expires.
             "--lazyfree-lazy-expire", "yes"],
            new Dictionary<string, string?>(), directory);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} (is port {port} in use?)");
            }
            if (await PingAsync(cancellationToken))
            {
                ConsoleLog.Info($"redis is healthy on port {port}");
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("redis did not answer PING within 30s");
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, cancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cancellationToken);
            return read >= 5 && buffer.AsSpan(0, 5).SequenceEqual("+PONG"u8);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM: Redis flushes the AOF and exits.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.StopAsync(TimeSpan.FromSeconds(15), ChildProcess.SigTerm);
            await _process.DisposeAsync();
        }
    }
}
