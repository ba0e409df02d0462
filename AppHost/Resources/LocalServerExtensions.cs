using System.Net.Sockets;
using System.Text;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Postgres and Redis as executable resources (there is no container runtime here), each with a connection string
/// and a health check, so that <c>WaitFor</c> means "answers queries", not "process started".
/// </summary>
internal static class LocalServerExtensions
{
    public static IResourceBuilder<PostgresServerResource> AddLocalPostgres(
        this IDistributedApplicationBuilder builder, string name, string dataRoot, int port, IResourceBuilder<ParameterResource> password, string database)
    {
        var bin = FindPostgresBin();
        var dataDirectory = Path.Combine(dataRoot, "postgres");
        var (command, arguments) = SetupCommand.As(PostgresServerResource.AdminUser, Path.Combine(bin, "postgres"),
            "-D", dataDirectory, "-p", port.ToString(), "-k", "/tmp", "-c", "listen_addresses=127.0.0.1");
        var resource = new PostgresServerResource(name, command, dataDirectory, port, password.Resource, database);

        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(resource, (_, cancellationToken) =>
            InitialiseAsync(resource, bin, cancellationToken));
        var healthKey = $"{name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async cancellationToken =>
        {
            try
            {
                var connectionString = await resource.ConnectionStringExpression.GetValueAsync(cancellationToken);
                await using var connection = new NpgsqlConnection(connectionString + ";Timeout=3;Pooling=false");
                await connection.OpenAsync(cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                return HealthCheckResult.Unhealthy("Postgres does not answer yet", ex);
            }
        });

        return builder.AddResource(resource)
            .WithArgs(arguments)
            .WithEndpoint(port: port, targetPort: port, scheme: "tcp", name: "tcp", isProxied: false)
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest();
    }

    public static IResourceBuilder<RedisServerResource> AddLocalRedis(
        this IDistributedApplicationBuilder builder, string name, string dataRoot, int port, IResourceBuilder<ParameterResource> password,
        RedisUsers users, string appendFsync) =>
        builder.AddRedisServer(name, Path.Combine(dataRoot, "redis"), port, password, users, appendFsync, clusterConfig: null);

    /// <summary>
    /// A Redis Cluster of <paramref name="masters"/> masters with one replica each, on consecutive ports from
    /// <paramref name="firstPort"/> (nodes <c>redis-1</c> … under <c>redis-cluster/</c>), formed on first start.
    /// </summary>
    public static IResourceBuilder<RedisClusterResource> AddLocalRedisCluster(
        this IDistributedApplicationBuilder builder, string name, string dataRoot, int firstPort, IResourceBuilder<ParameterResource> password,
        RedisUsers users, string appendFsync, int masters)
    {
        var nodes = Enumerable.Range(1, masters * 2).Select(i => builder.AddRedisServer($"{name}-{i}",
            Path.Combine(dataRoot, "redis-cluster", $"node-{i}"), firstPort + i - 1, password, users, appendFsync,
            // Replicas authenticate to their master with the one password; a master is taken over after 5 s of silence.
            secret => $"""
                cluster-enabled yes
                cluster-config-file nodes.conf
                cluster-node-timeout 5000
                masterauth {secret}
                """)).ToList();
        var cluster = new RedisClusterResource(name, nodes.Select(n => n.Resource).ToList(), password.Resource);

        builder.Eventing.Subscribe<InitializeResourceEvent>(cluster, (e, cancellationToken) =>
        {
            // Not awaited: the nodes are started after this event, and the cluster can only be formed once they answer.
            _ = Task.Run(() => FormClusterAsync(cluster, e, cancellationToken), CancellationToken.None);
            return Task.CompletedTask;
        });
        var healthKey = $"{name}-ok";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async cancellationToken =>
            await ClusterOkAsync(cluster, await password.Resource.GetValueAsync(cancellationToken) ?? "", cancellationToken)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("the cluster is not formed, or a replica has not synced with its master"));

        var resource = builder.AddResource(cluster)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "RedisCluster",
                State = KnownResourceStates.NotStarted,
                Properties = [new("nodes", string.Join(", ", nodes.Select(n => $"127.0.0.1:{n.Resource.Port}")))],
            })
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest();
        foreach (var node in nodes)
        {
            node.WithParentRelationship(resource);
        }
        return resource;
    }

    private static IResourceBuilder<RedisServerResource> AddRedisServer(
        this IDistributedApplicationBuilder builder, string name, string dataDirectory, int port, IResourceBuilder<ParameterResource> password,
        RedisUsers users, string appendFsync, Func<string, string>? clusterConfig)
    {
        var resource = new RedisServerResource(name, dataDirectory, port, password.Resource);
        var configFile = Path.Combine(dataDirectory, "redis.conf");

        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(resource, async (_, cancellationToken) =>
        {
            Directory.CreateDirectory(dataDirectory);
            // The password goes into an owner-only file, not onto the command line where ps and the dashboard show it;
            // the services' users are written anew at every start, so each node has the same ones.
            var secret = await password.Resource.GetValueAsync(cancellationToken);
            var serviceUsers = await users.ConfigurationAsync(cancellationToken);
            var config = $"""
                port {port}
                bind 127.0.0.1
                dir {dataDirectory}
                daemonize no
                appendonly yes
                appendfsync {appendFsync}
                save ""
                # A dedup hash of a busy store holds a day of event ids; free it in the background when it expires.
                lazyfree-lazy-expire yes
                requirepass {secret}
                {serviceUsers}
                {clusterConfig?.Invoke(secret!)}
                """;
            await File.WriteAllTextAsync(configFile, config, cancellationToken);
            File.SetUnixFileMode(configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });
        var healthKey = $"{name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async cancellationToken =>
            await RedisReplyAsync(port, await password.Resource.GetValueAsync(cancellationToken) ?? "", "PING", cancellationToken) == "PONG"
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("Redis does not answer PING yet"));

        return builder.AddResource(resource)
            .WithArgs(configFile)
            .WithEndpoint(port: port, targetPort: port, scheme: "tcp", name: "tcp", isProxied: false)
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest();
    }

    /// <summary>Once every node answers: <c>redis-cli --cluster create</c>, unless the nodes already are a cluster (a restart).</summary>
    private static async Task FormClusterAsync(RedisClusterResource cluster, InitializeResourceEvent e, CancellationToken cancellationToken)
    {
        try
        {
            await e.Notifications.PublishUpdateAsync(cluster, s => s with { State = KnownResourceStates.Waiting });
            foreach (var node in cluster.Nodes)
            {
                await e.Notifications.WaitForResourceHealthyAsync(node.Name, cancellationToken);
            }
            await e.Notifications.PublishUpdateAsync(cluster, s => s with { State = KnownResourceStates.Starting });
            var password = await cluster.Password.GetValueAsync(cancellationToken) ?? "";
            var info = await RedisReplyAsync(cluster.Nodes[0].Port, password, "CLUSTER INFO", cancellationToken) ?? "";
            if (!info.Contains("cluster_slots_assigned:16384", StringComparison.Ordinal))
            {
                e.Logger.LogInformation("Forming a Redis Cluster of {Count} nodes", cluster.Nodes.Count);
                await SetupCommand.RunAsync(null, "redis-cli",
                    ["--cluster", "create", .. cluster.Nodes.Select(n => $"127.0.0.1:{n.Port}"), "--cluster-replicas", "1", "--cluster-yes"],
                    null, cancellationToken, new Dictionary<string, string> { ["REDISCLI_AUTH"] = password });
            }
            await e.Notifications.PublishUpdateAsync(cluster, s => s with { State = KnownResourceStates.Running, StartTimeStamp = DateTime.UtcNow });
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever went wrong (a node that could not start, redis-cli missing or refusing), the services waiting
            // for the cluster must see it failed rather than wait for ever.
            e.Logger.LogError(ex, "The Redis Cluster could not be formed");
            await e.Notifications.PublishUpdateAsync(cluster, s => s with { State = KnownResourceStates.FailedToStart });
        }
    }

    /// <summary>Every node says <c>cluster_state:ok</c> and every replica has finished its sync (it holds nothing before).</summary>
    private static async Task<bool> ClusterOkAsync(RedisClusterResource cluster, string password, CancellationToken cancellationToken)
    {
        foreach (var node in cluster.Nodes)
        {
            var info = await RedisReplyAsync(node.Port, password, "CLUSTER INFO", cancellationToken) ?? "";
            var replication = await RedisReplyAsync(node.Port, password, "INFO replication", cancellationToken) ?? "";
            if (!info.Contains("cluster_state:ok", StringComparison.Ordinal)
                || (replication.Contains("role:slave", StringComparison.Ordinal) && !replication.Contains("master_link_status:up", StringComparison.Ordinal)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>First run: <c>initdb</c> with password authentication, then the database, created in single-user mode.</summary>
    private static async Task InitialiseAsync(PostgresServerResource postgres, string bin, CancellationToken cancellationToken)
    {
        var dataDirectory = postgres.DataDirectory;
        var user = PostgresServerResource.AdminUser;
        if (SetupCommand.RunningAsRoot)
        {
            var root = Path.GetDirectoryName(dataDirectory)!;
            try
            {
                await SetupCommand.RunAsync(user, "test", ["-x", root], null, cancellationToken);
            }
            catch (InvalidOperationException)
            {
                throw new InvalidOperationException(
                    $"The postgres user cannot reach {root} (a parent folder is private to root). " +
                    "Set AppHost__DataDirectory to a folder it can reach, e.g. /var/lib/beacon, or clone Beacon elsewhere.");
            }
        }
        if (File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
        {
            return;
        }

        Directory.CreateDirectory(dataDirectory);
        var passwordFile = Path.Combine(dataDirectory, "..", ".postgres-initdb-password");
        await File.WriteAllTextAsync(passwordFile, await postgres.Password.GetValueAsync(cancellationToken), cancellationToken);
        try
        {
            if (SetupCommand.RunningAsRoot)
            {
                await SetupCommand.RunAsync(null, "chown", [$"{user}:{user}", dataDirectory, passwordFile], null, cancellationToken);
            }
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await SetupCommand.RunAsync(user, Path.Combine(bin, "initdb"),
                ["-D", dataDirectory, "-U", user, "--auth=scram-sha-256", $"--pwfile={passwordFile}", "-E", "UTF8", "--locale=C.UTF-8"],
                null, cancellationToken);
        }
        finally
        {
            File.Delete(passwordFile);
        }
        await SetupCommand.RunAsync(user, Path.Combine(bin, "postgres"), ["--single", "-D", dataDirectory, "postgres"],
            $"CREATE DATABASE \"{postgres.Database}\"\n", cancellationToken);
    }

    /// <summary>
    /// <c>AUTH</c>, then <paramref name="command"/> (space-separated words) over a plain socket: its simple or bulk
    /// string reply, or null when Redis does not answer or refuses.
    /// </summary>
    private static async Task<string?> RedisReplyAsync(int port, string password, string command, CancellationToken cancellationToken)
    {
        static string Resp(params string[] words) =>
            $"*{words.Length}\r\n" + string.Concat(words.Select(w => $"${Encoding.UTF8.GetByteCount(w)}\r\n{w}\r\n"));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, cancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(Resp("AUTH", password) + Resp(command.Split(' '))), cancellationToken);
            var reply = new StringBuilder();
            var buffer = new byte[4096];
            while (reply.Length < 64 * 1024)
            {
                var read = await stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    return null;
                }
                reply.Append(Encoding.UTF8.GetString(buffer, 0, read));
                var text = reply.ToString();
                if (text.Length < 5 && "+OK\r\n".StartsWith(text, StringComparison.Ordinal))
                {
                    continue;
                }
                if (!text.StartsWith("+OK\r\n", StringComparison.Ordinal))
                {
                    return null; // wrong password
                }
                var answer = text[5..];
                var lineEnd = answer.IndexOf("\r\n", StringComparison.Ordinal);
                if (lineEnd < 0)
                {
                    continue;
                }
                if (answer[0] == '+')
                {
                    return answer[1..lineEnd];
                }
                if (answer[0] != '$' || !int.TryParse(answer[1..lineEnd], out var length) || length < 0)
                {
                    return null;
                }
                var body = answer[(lineEnd + 2)..];
                if (Encoding.UTF8.GetByteCount(body) >= length)
                {
                    return body[..Math.Min(body.Length, length)];
                }
            }
            return null;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return null;
        }
    }

    private static string FindPostgresBin()
    {
        var configured = Environment.GetEnvironmentVariable("BEACON_PG_BIN");
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin"))
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "postgres")))
            ?? throw new InvalidOperationException("Postgres binaries not found: run scripts/run (installs postgresql-15) or set BEACON_PG_BIN");
    }
}
