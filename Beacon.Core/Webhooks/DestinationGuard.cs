using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Beacon.Core.Webhooks;

/// <summary>
/// Keeps webhooks away from the operator's own network (SSRF). The check runs in the
/// <see cref="SocketsHttpHandler.ConnectCallback"/> on the address actually connected to, so a redirect to a
/// private host or a DNS answer that changes after the pipeline was created is caught as well.
/// Cloud-metadata addresses are refused always; loopback, private, link-local, CGNAT, multicast, unspecified
/// and unique-local addresses only while <see cref="DeliveryOptions.AllowPrivateDestinations"/> is off.
/// </summary>
public sealed class DestinationGuard(IOptions<DeliveryOptions> options)
{
    private static readonly IPAddress Ec2MetadataV6 = IPAddress.Parse("fd00:ec2::254");
    private static readonly IPAddress MetadataV4 = IPAddress.Parse("169.254.169.254");

    private readonly IReadOnlyList<IPNetwork> _allowedNetworks = options.Value.AllowedPrivateNetworks
        .Select(ParseNetwork).ToList();

    /// <summary>Why a connection to <paramref name="address"/> is refused, or null when it is allowed.</summary>
    public string? RefusalReason(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IsCloudMetadata(address))
        {
            return $"{address} is a cloud metadata address";
        }
        if (!IsNonPublic(address) || options.Value.AllowPrivateDestinations
            || _allowedNetworks.Any(network => network.Contains(address)))
        {
            return null;
        }
        return $"{address} is not a public address (set Delivery__AllowPrivateDestinations=true to allow it)";
    }

    /// <summary>
    /// Create-time check of a destination URL: absolute http(s) and not a literal metadata address. Host names
    /// are not resolved here (their answer can change); the connect-time check covers them.
    /// </summary>
    public static string? ValidateUrl(string? url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return "The URL must be an absolute http:// or https:// address.";
        }
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "The URL must not carry credentials.";
        }
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            if (literal.IsIPv4MappedToIPv6)
            {
                literal = literal.MapToIPv4();
            }
            if (IsCloudMetadata(literal))
            {
                return "Cloud metadata addresses are never allowed as destinations.";
            }
        }
        else if (uri.IdnHost.Equals("metadata.google.internal", StringComparison.OrdinalIgnoreCase))
        {
            return "Cloud metadata addresses are never allowed as destinations.";
        }
        return null;
    }

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/> that resolves the host and connects only to allowed addresses.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);

        var refusals = new List<string>();
        foreach (var address in addresses)
        {
            var refusal = RefusalReason(address);
            if (refusal is not null)
            {
                refusals.Add(refusal);
                continue;
            }
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException)
            {
                socket.Dispose();
                if (address == addresses[^1])
                {
                    throw;
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw new DestinationRefusedException(
            refusals.Count > 0 ? $"Destination {host} refused: {string.Join("; ", refusals)}" : $"Destination {host} has no address");
    }

    public static bool IsCloudMetadata(IPAddress address) => address.Equals(MetadataV4) || address.Equals(Ec2MetadataV6);

    /// <summary>Loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, unique-local or reserved.</summary>
    public static bool IsNonPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
            || address.Equals(IPAddress.IPv6None))
        {
            return true;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return b[0] == 0                                   // 0.0.0.0/8 "this network"
                || b[0] == 10                                  // 10/8
                || b[0] == 127                                 // loopback
                || (b[0] == 100 && (b[1] & 0xC0) == 64)        // 100.64/10 CGNAT
                || (b[0] == 169 && b[1] == 254)                // link-local (and metadata)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)        // 172.16/12
                || (b[0] == 192 && b[1] == 168)                // 192.168/16
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)     // 192.0.0/24 IETF protocol assignments
                || (b[0] == 198 && (b[1] & 0xFE) == 18)        // 198.18/15 benchmarking
                || b[0] >= 224;                                // multicast, reserved, broadcast
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            Span<byte> b = stackalloc byte[16];
            address.TryWriteBytes(b, out _);
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC                       // fc00::/7 unique-local
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // 2001:db8::/32 documentation
                || IsEmbeddedNonPublicV4(b);
        }
        return true;
    }

    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses carry an IPv4 address that decides where they go.
    private static bool IsEmbeddedNonPublicV4(ReadOnlySpan<byte> b)
    {
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return IsNonPublic(new IPAddress(b[12..16]));
        }
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsNonPublic(new IPAddress(b[2..6]));
        }
        return false;
    }

    private static IPNetwork ParseNetwork(string text)
    {
        text = text.Trim();
        if (!text.Contains('/'))
        {
            text += IPAddress.Parse(text).AddressFamily == AddressFamily.InterNetwork ? "/32" : "/128";
        }
        return IPNetwork.Parse(text);
    }
}

/// <summary>The destination resolved only to addresses webhooks may not reach.</summary>
public sealed class DestinationRefusedException(string message) : HttpRequestException(message);
