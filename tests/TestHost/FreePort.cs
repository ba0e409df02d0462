using System.Net;
using System.Net.Sockets;

namespace Beacon.TestHost;

public static class FreePort
{
    /// <summary>A TCP port on 127.0.0.1 that nothing listens on right now.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The first of <paramref name="count"/> consecutive free ports whose Redis Cluster bus ports (each + 10,000)
    /// are free too, none of them one of <paramref name="taken"/> (free ports handed out earlier, not yet bound).
    /// </summary>
    public static int RunForRedisCluster(int count, IEnumerable<int> taken)
    {
        var excluded = taken.ToHashSet();
        while (true)
        {
            var first = Next();
            var ports = Enumerable.Range(first, count).ToList();
            if (first + count - 1 + 10_000 <= IPEndPoint.MaxPort
                && ports.Concat(ports.Select(p => p + 10_000)).All(p => !excluded.Contains(p) && IsFree(p)))
            {
                return first;
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
