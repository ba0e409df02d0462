using System.Diagnostics;
using Beacon.TestHost;

namespace Beacon.Bench;

/// <summary>A server the bench started itself (nginx, the bare Kestrel endpoint, a Redis), stopped by its pid.</summary>
internal sealed class FloorServer(string name, Process process, string url) : IDisposable
{
    public string Name => name;

    public string Url => url;

    public int Pid => process.Id;

    public static async Task<FloorServer> NginxAsync(string workDirectory)
    {
        var port = FreePort.Next();
        var prefix = Path.Combine(workDirectory, "nginx");
        Directory.CreateDirectory(Path.Combine(prefix, "logs"));
        var config = Path.Combine(prefix, "nginx.conf");
        // As many workers as cores (Kestrel uses them all too), no logging, and the body is not read: `return 204`.
        await File.WriteAllTextAsync(config, $$"""
            daemon off;
            master_process on;
            worker_processes auto;
            pid {{prefix}}/nginx.pid;
            error_log {{prefix}}/logs/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path {{prefix}}/body;
                keepalive_requests 1000000;
                server {
                    listen 127.0.0.1:{{port}} reuseport;
                    location / { return 204; }
                }
            }
            """);
        var info = new ProcessStartInfo("nginx") { ArgumentList = { "-p", prefix, "-c", config }, RedirectStandardError = true };
        return await StartAsync("nginx", info, $"http://127.0.0.1:{port}", port);
    }

    public static Task<FloorServer> BareKestrelAsync(string root)
    {
        var port = FreePort.Next();
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(root, "tests", "Load", "BareKestrel", "bin", "Release", "net10.0", "BareKestrel.dll"), "--urls", $"http://127.0.0.1:{port}" },
            // The runtime settings the AppHost gives Ingestion.Api.
            Environment = { ["DOTNET_GCgen0size"] = "0x4000000", ["ASPNETCORE_ENVIRONMENT"] = "Production" },
            RedirectStandardOutput = true,
        };
        return StartAsync("bare Kestrel", info, $"http://127.0.0.1:{port}", port);
    }

    /// <summary>A Redis with the AOF settings of the AppHost's (appendonly yes, appendfsync everysec, no RDB snapshots).</summary>
    public static Task<FloorServer> RedisAsync(string workDirectory)
    {
        var port = FreePort.Next();
        var dir = Path.Combine(workDirectory, "redis-floor");
        Directory.CreateDirectory(dir);
        var info = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", $"{port}", "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--lazyfree-lazy-expire", "yes" },
            RedirectStandardOutput = true,
        };
        return StartAsync("redis", info, $"{port}", port);
    }

    private static async Task<FloorServer> StartAsync(string name, ProcessStartInfo info, string url, int port)
    {
        var process = Process.Start(info)!;
        ProcessReaper.Track(process.Id);
        var server = new FloorServer(name, process, url);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch
            {
                server.Dispose();
                throw;
            }
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            // nginx's master stops its workers on SIGTERM; everything else here is one process.
            ProcessReaper.Signal(process.Id, ProcessReaper.SigTerm);
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
            }
        }
        ProcessReaper.Untrack(process.Id);
        process.Dispose();
    }
}
