using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary>
/// A local Redis Cluster (<c>AppHost__RedisCluster</c>): masters and as many replicas, each a <c>redis-server</c>
/// executable resource of its own, formed once with <c>redis-cli --cluster create</c>. Services get every node in the
/// connection string; StackExchange.Redis finds the masters itself and follows their redirections.
/// </summary>
internal sealed class RedisClusterResource(string name, IReadOnlyList<RedisServerResource> nodes, ParameterResource password)
    : Resource(name), ILocalRedis, IResourceWithWaitSupport
{
    public IReadOnlyList<RedisServerResource> Nodes => nodes;
    public ParameterResource Password => password;

    public string Endpoints => string.Join(",", nodes.Select(n => n.Endpoints));

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Endpoints},password={password}");
}
