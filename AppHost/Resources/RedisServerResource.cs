using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary><c>redis-server</c> from the machine's binaries with AOF on and a password, data under <c>.beacon/redis</c>.</summary>
internal sealed class RedisServerResource(string name, string workingDirectory, int port, ParameterResource password)
    : ExecutableResource(name, "redis-server", workingDirectory), ILocalRedis
{
    public string DataDirectory => WorkingDirectory;
    public int Port => port;
    public ParameterResource Password => password;

    public string Endpoints => $"127.0.0.1:{port}";

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Endpoints},password={password}");
}

/// <summary>A Redis the AppHost runs (one server or a cluster): its services connect to it as their own users.</summary>
internal interface ILocalRedis : IResourceWithConnectionString
{
    /// <summary>The <c>host:port</c> list of a StackExchange.Redis connection string.</summary>
    string Endpoints { get; }
}
