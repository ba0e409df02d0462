using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary><c>redis-server</c> from the machine's binaries with AOF on and a password, data under <c>.beacon/redis</c>.</summary>
internal sealed class RedisServerResource(string name, string workingDirectory, int port, ParameterResource password)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    public string DataDirectory => WorkingDirectory;
    public int Port => port;
    public ParameterResource Password => password;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"127.0.0.1:{port.ToString()},password={password}");
}
