using System.Net.Sockets;
using System.Text;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
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
        this IDistributedApplicationBuilder builder, string name, string dataRoot, int port, IResourceBuilder<ParameterResource> password, string appendFsync)
    {
        var dataDirectory = Path.Combine(dataRoot, "redis");
        var resource = new RedisServerResource(name, dataDirectory, port, password.Resource);
        var configFile = Path.Combine(dataDirectory, "redis.conf");

        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(resource, async (_, cancellationToken) =>
        {
            Directory.CreateDirectory(dataDirectory);
            // The password goes into an owner-only file, not onto the command line where ps and the dashboard show it.
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
                requirepass {await password.Resource.GetValueAsync(cancellationToken)}
                """;
            await File.WriteAllTextAsync(configFile, config, cancellationToken);
            File.SetUnixFileMode(configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });
        var healthKey = $"{name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async cancellationToken =>
            await RedisAnswersAsync(port, await password.Resource.GetValueAsync(cancellationToken) ?? "", cancellationToken)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("Redis does not answer PING yet"));

        return builder.AddResource(resource)
            .WithArgs(configFile)
            .WithEndpoint(port: port, targetPort: port, scheme: "tcp", name: "tcp", isProxied: false)
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest();
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

    private static async Task<bool> RedisAnswersAsync(int port, string password, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, cancellationToken);
            var stream = client.GetStream();
            var command = $"*2\r\n$4\r\nAUTH\r\n${Encoding.UTF8.GetByteCount(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(command), cancellationToken);
            var reply = new StringBuilder();
            var buffer = new byte[64];
            while (!reply.ToString().Contains("\r\n+PONG", StringComparison.Ordinal) && reply.Length < 256)
            {
                var read = await stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    return false;
                }
                reply.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
            return reply.ToString().StartsWith("+OK\r\n+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
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
