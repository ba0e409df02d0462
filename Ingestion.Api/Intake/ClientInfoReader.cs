using System.Net;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Intake;

/// <summary>
/// Reads <see cref="ClientInfo"/> from a request (HTTP or gRPC: <c>ServerCallContext.GetHttpContext()</c>).
/// Cloudflare's headers and its <c>CF-Connecting-IP</c> are believed only from a peer in
/// <see cref="IngestionOptions.TrustedProxies"/>; otherwise the peer address is the client.
/// </summary>
public sealed class ClientInfoReader
{
    private readonly IReadOnlyList<System.Net.IPNetwork> _trusted;

    public ClientInfoReader(IOptions<IngestionOptions> options)
    {
        var trusted = new List<System.Net.IPNetwork>();
        foreach (var entry in options.Value.TrustedProxies)
        {
            if (System.Net.IPNetwork.TryParse(entry, out var network))
            {
                trusted.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                trusted.Add(new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                throw new InvalidOperationException($"Ingestion:TrustedProxies entry '{entry}' is neither an IP address nor a CIDR range.");
            }
        }
        _trusted = trusted;
    }

    public ClientInfo Read(HttpContext context)
    {
        var headers = context.Request.Headers;
        var peer = context.Connection.RemoteIpAddress;
        if (peer is { IsIPv4MappedToIPv6: true })
        {
            peer = peer.MapToIPv4();
        }
        var userAgent = headers.UserAgent.ToString();
        var requestedWith = headers["X-Requested-With"].ToString();
        if (peer is not null && IsTrusted(peer))
        {
            var connecting = headers["CF-Connecting-IP"].ToString();
            var client = IPAddress.TryParse(connecting, out var forwarded) ? forwarded : peer;
            return new ClientInfo(NullIfEmpty(userAgent), NullIfEmpty(requestedWith), client,
                NullIfEmpty(headers["CF-IPCountry"].ToString()),
                NullIfEmpty(headers["CF-Region"].ToString()),
                NullIfEmpty(headers["CF-IPCity"].ToString()));
        }
        return new ClientInfo(NullIfEmpty(userAgent), NullIfEmpty(requestedWith), peer);
    }

    private bool IsTrusted(IPAddress peer)
    {
        foreach (var network in _trusted)
        {
            if (network.Contains(peer))
            {
                return true;
            }
        }
        return false;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
