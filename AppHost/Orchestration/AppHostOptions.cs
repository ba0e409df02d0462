using Microsoft.Extensions.Configuration;

namespace Beacon.AppHost.Orchestration;

/// <summary>
/// AppHost settings, from environment variables or the command line (<c>--AppHost:Ports:Admin 5099</c>,
/// <c>--replicas ingestion=2,worker=2</c>). Connection strings given as <c>ConnectionStrings__beacondb</c> /
/// <c>ConnectionStrings__redis</c> replace the local servers.
/// </summary>
internal sealed record AppHostOptions(
    string RepositoryRoot,
    string DataDirectory,
    int PostgresPort,
    int RedisPort,
    int IngestionPort,
    int IngestionGrpcPort,
    int AdminPort,
    int WorkerPort,
    string AppendFsync,
    string? PostgresConnectionString,
    string? RedisConnectionString,
    string? DevToken,
    IReadOnlyDictionary<string, int> Replicas)
{
    public static AppHostOptions From(IConfiguration configuration)
    {
        var root = FindRepositoryRoot();
        var section = configuration.GetSection("AppHost");
        int Port(string name, int fallback) => int.TryParse(section[$"Ports:{name}"], out var port) ? port : fallback;

        var appendFsync = section["AppendFsync"] ?? "everysec";
        if (appendFsync is not ("everysec" or "always" or "no"))
        {
            throw new ArgumentException("AppHost:AppendFsync must be everysec, always or no");
        }

        return new AppHostOptions(
            root,
            Path.GetFullPath(section["DataDirectory"] ?? Path.Combine(root, ".beacon")),
            Port("Postgres", 5433),
            Port("Redis", 6380),
            Port("Ingestion", 5080),
            Port("IngestionGrpc", 5081),
            Port("Admin", 5090),
            Port("Worker", 5095),
            appendFsync,
            NullIfEmpty(configuration.GetConnectionString("beacondb")),
            NullIfEmpty(configuration.GetConnectionString("redis")),
            NullIfEmpty(configuration["Beacon:DevToken"]),
            ParseReplicas(configuration["replicas"]));
    }

    public int ReplicasOf(string resource) => Replicas.GetValueOrDefault(resource, 1);

    /// <summary>Parses <c>ingestion=2,worker=3</c>.</summary>
    private static Dictionary<string, int> ParseReplicas(string? value)
    {
        var replicas = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split('=', 2);
            if (pieces.Length != 2 || !int.TryParse(pieces[1], out var count) || count < 1 || count > 16
                || pieces[0] is not ("ingestion" or "worker" or "admin"))
            {
                throw new ArgumentException($"--replicas takes resource=count pairs for ingestion, worker or admin (1-16), e.g. ingestion=2,worker=2; got '{part}'");
            }
            replicas[pieces[0]] = count;
        }
        return replicas;
    }

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Beacon.sln")))
                {
                    return directory.FullName;
                }
            }
        }
        throw new InvalidOperationException("Beacon.sln not found above the current directory");
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
