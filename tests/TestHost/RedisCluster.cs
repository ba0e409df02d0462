using System.Diagnostics;
using StackExchange.Redis;

namespace Beacon.TestHost;

/// <summary>
/// A throwaway Redis Cluster on free ports: 3 masters with one replica each (<c>redis-cli --cluster create</c>), a
/// 1 s node timeout so a killed master's replica takes over within seconds. Nodes can be killed (SIGKILL) one by one.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly Dictionary<int, Process> _nodes = [];

    private RedisCluster(string root) => Root = root;

    public string Root { get; }

    public IReadOnlyCollection<int> Ports => _nodes.Keys;

    /// <summary>Every node, for StackExchange.Redis, which finds the masters and follows MOVED itself.</summary>
    public string ConnectionString =>
        string.Join(",", _nodes.Keys.Select(port => $"127.0.0.1:{port}")) + ",allowAdmin=true,abortConnect=false,connectTimeout=2000,syncTimeout=5000";

    public static async Task<RedisCluster> StartAsync(int masters = 3)
    {
        var cluster = new RedisCluster(Directory.CreateTempSubdirectory("beacon-test-cluster-").FullName);
        try
        {
            for (var i = 0; i < masters * 2; i++)
            {
                cluster.StartNode(FreePort.Next());
            }
            foreach (var port in cluster.Ports)
            {
                await WaitUntilAsync(() => Answers(port), $"node {port} answers", TimeSpan.FromSeconds(30));
            }
            await ExternalProcess.RunAsync("redis-cli",
                ["--cluster", "create", .. cluster.Ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "1", "--cluster-yes"],
                TimeSpan.FromSeconds(60));
            await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private void StartNode(int port)
    {
        var directory = Directory.CreateDirectory(Path.Combine(Root, $"{port}")).FullName;
        var info = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var argument in new[]
                 {
                     "--port", $"{port}", "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no",
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                     // A replica may take over however long ago it last heard from its master (an idle test cluster).
                     "--cluster-replica-validity-factor", "0",
                     // Replicas sync at once, not after the default 5 s wait for more replicas to share the transfer.
                     "--repl-diskless-sync-delay", "0",
                     "--protected-mode", "no", "--daemonize", "no",
                 })
        {
            info.ArgumentList.Add(argument);
        }
        if (_nodes.Remove(port, out var previous))
        {
            previous.Dispose();
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start redis-server");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        ProcessReaper.Track(process.Id);
        _nodes[port] = process;
    }

    /// <summary>Kills one node (SIGKILL): a master's replica is promoted after the node timeout.</summary>
    public async Task KillAsync(int port)
    {
        var process = _nodes[port];
        process.Kill();
        await process.WaitForExitAsync();
        ProcessReaper.Untrack(process.Id);
    }

    /// <summary>Starts a killed node again on its data directory: it rejoins the cluster, a former master as a replica.</summary>
    public void Restart(int port) => StartNode(port);

    /// <summary>
    /// Waits until every live node says <c>cluster_state:ok</c> and every live replica's link to its master is up
    /// (a replica that has not finished its first sync holds nothing yet: cluster_state is ok long before).
    /// </summary>
    public Task WaitUntilHealthyAsync(TimeSpan timeout) =>
        WaitUntilAsync(async () =>
        {
            foreach (var (port, process) in _nodes.Where(n => !n.Value.HasExited))
            {
                if (!(await InfoAsync(port, "CLUSTER", "INFO")).Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    return false;
                }
                var replication = await InfoAsync(port, "INFO", "replication");
                if (!replication.Contains("role:", StringComparison.Ordinal) ||
                    (replication.Contains("role:slave", StringComparison.Ordinal) && !replication.Contains("master_link_status:up", StringComparison.Ordinal)))
                {
                    return false;
                }
            }
            return true;
        }, "the cluster is healthy", timeout);

    private static async Task<bool> Answers(int port)
    {
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=500");
            await connection.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }

    private static async Task<string> InfoAsync(int port, string command, params object[] arguments)
    {
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=1000,allowAdmin=true");
            // This node itself: a connection to one node discovers the others (a dead one too).
            return (await connection.GetServer("127.0.0.1", port).ExecuteAsync(command, arguments)).ToString();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return "";
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting until {what}");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _nodes.Values)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
            ProcessReaper.Untrack(process.Id);
            process.Dispose();
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
