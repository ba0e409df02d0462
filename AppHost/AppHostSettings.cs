using Microsoft.Extensions.Configuration;

namespace Beacon.AppHost;

/// <summary>
/// The AppHost's own settings, from environment variables or arguments (<c>--AppHost:Ports:Admin 5099</c>,
/// <c>--replicas ingestion=2,worker=2</c>, <c>--AppHost:Headless true</c>).
/// </summary>
internal sealed record AppHostSettings(
    string RepositoryRoot,
    string DataDirectory,
    int PostgresPort,
    int RedisPort,
    int IngestionPort,
    int IngestionGrpcPort,
    int AdminPort,
    int WorkerPort,
    string AppendFsync,
    int RedisClusterMasters,
    string ServiceEnvironment,
    bool Headless,
    IReadOnlyDictionary<string, int> Replicas)
{
    public static AppHostSettings From(IConfiguration configuration)
    {
        var root = FindRepositoryRoot();
        var section = configuration.GetSection("AppHost");
        int Port(string name, int fallback) => int.TryParse(section[$"Ports:{name}"], out var port) ? port : fallback;

        var appendFsync = section["AppendFsync"] ?? "everysec";
        if (appendFsync is not ("everysec" or "always" or "no"))
        {
            throw new ArgumentException("AppHost:AppendFsync must be everysec, always or no");
        }

        var clusterMasters = section.GetValue<int>("RedisCluster");
        if (clusterMasters is not 0 and (< 3 or > 16))
        {
            throw new ArgumentException("AppHost:RedisCluster is the number of masters of a local Redis Cluster: 3 to 16 (each gets a replica), or 0 for one Redis");
        }

        return new AppHostSettings(
            root,
            Path.GetFullPath(section["DataDirectory"] ?? Path.Combine(root, ".beacon")),
            Port("Postgres", 5433),
            Port("Redis", 6380),
            Port("Ingestion", 5080),
            Port("IngestionGrpc", 5081),
            Port("Admin", 5090),
            Port("Worker", 5095),
            appendFsync,
            clusterMasters,
            section["ServiceEnvironment"] ?? "Production",
            section.GetValue<bool>("Headless"),
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
}
