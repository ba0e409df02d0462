using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Beacon.Core.Delivery;

/// <summary>
/// Keeps webhooks away from the operator's own network (SSRF). The check runs in the
/// <see cref="SocketsHttpHandler.ConnectCallback"/> on the address actually connected to, so a redirect to a
/// private host or a DNS answer that changes after the pipeline was created is caught as well.
/// Cloud-metadata addresses are refused always, in every spelling that reaches them; loopback, private, link-local,
/// CGNAT, multicast, unspecified, unique-local and reserved addresses only when the store's
/// <see cref="DestinationScope"/> does not allow them.
/// </summary>
/// <remarks>
/// A store's scope (<see cref="ScopeFor"/>): with no list of its own (null), the operator's default — every
/// private network when <see cref="DeliveryOptions.AllowPrivateDestinations"/> is on (dev and tests), none
/// otherwise. With a list (<c>Store.AllowedPrivateNetworks</c>, set by an operator), exactly those networks, cut
/// down to the operator's upper bound: everything under <see cref="DeliveryOptions.AllowPrivateDestinations"/>,
/// else <see cref="DeliveryOptions.AllowedPrivateNetworks"/>. The global list alone grants no store anything.
/// </remarks>
public sealed class DestinationGuard
{
    /// <summary>AWS (IMDS, ECS task metadata, EKS pod identity), GCP/Azure, Alibaba Cloud and Oracle Cloud metadata services.</summary>
    public static readonly IReadOnlyList<IPAddress> CloudMetadataAddresses =
    [
        IPAddress.Parse("169.254.169.254"), IPAddress.Parse("169.254.170.2"), IPAddress.Parse("169.254.170.23"),
        IPAddress.Parse("100.100.100.200"), IPAddress.Parse("192.0.0.192"),
        IPAddress.Parse("fd00:ec2::254"), IPAddress.Parse("fd00:ec2::23"),
    ];

    // Names that resolve to a metadata service inside its cloud (the connect-time check catches them too).
    private static readonly string[] CloudMetadataNames =
        ["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"];

    private const int MaxStoreNetworks = 32;

    private readonly DeliveryOptions _options;
    private readonly IReadOnlyList<IPNetwork> _bound;
    private readonly ConcurrentDictionary<string, DestinationScope> _scopes = new(StringComparer.Ordinal);

    public DestinationGuard(IOptions<DeliveryOptions> options)
    {
        _options = options.Value;
        _bound = _options.AllowedPrivateNetworks.Select(text => TryParseNetwork(text, out var network)
            ? network
            : throw new InvalidOperationException($"Delivery:AllowedPrivateNetworks entry '{text}' is neither an IP address nor a CIDR network.")).ToList();
    }

    /// <summary>What the webhooks of a store with <paramref name="storeNetworks"/> (its own list, or null) may reach.</summary>
    public DestinationScope ScopeFor(IReadOnlyList<string>? storeNetworks)
    {
        if (storeNetworks is null)
        {
            return _options.AllowPrivateDestinations ? DestinationScope.AllPrivate : DestinationScope.PublicOnly;
        }
        if (storeNetworks.Count == 0)
        {
            return DestinationScope.PublicOnly;
        }
        return _scopes.GetOrAdd(string.Join(",", storeNetworks), _ => DestinationScope.Of(WithinBound(storeNetworks)));
    }

    /// <summary>The part of each store network that lies inside the operator's upper bound.</summary>
    private List<IPNetwork> WithinBound(IEnumerable<string> storeNetworks)
    {
        var result = new List<IPNetwork>();
        foreach (var text in storeNetworks)
        {
            if (!TryParseNetwork(text, out var network))
            {
                continue;
            }
            if (_options.AllowPrivateDestinations)
            {
                result.Add(network);
                continue;
            }
            // Two CIDR networks either nest or do not meet: the intersection is the smaller one, or nothing.
            foreach (var bound in _bound)
            {
                if (Covers(bound, network))
                {
                    result.Add(network);
                }
                else if (Covers(network, bound))
                {
                    result.Add(bound);
                }
            }
        }
        return result;
    }

    private static bool Covers(IPNetwork outer, IPNetwork inner) =>
        outer.BaseAddress.AddressFamily == inner.BaseAddress.AddressFamily
        && outer.PrefixLength <= inner.PrefixLength && outer.Contains(inner.BaseAddress);

    /// <summary>
    /// Checks a store's list of private networks as an operator sets it: every entry an address or a CIDR network
    /// inside the operator's upper bound. Returns the entries in canonical form, or the errors.
    /// </summary>
    public (List<string> Networks, List<string> Errors) NormalizeStoreNetworks(IEnumerable<string> entries)
    {
        var networks = new List<string>();
        var errors = new List<string>();
        foreach (var entry in entries.Select(e => e.Trim()).Where(e => e.Length > 0))
        {
            if (!TryParseNetwork(entry, out var network))
            {
                errors.Add($"'{entry}' is not an IP address or a CIDR network with its base address (e.g. 10.20.0.0/16).");
            }
            else if (!_options.AllowPrivateDestinations && !_bound.Any(bound => Covers(bound, network)))
            {
                errors.Add($"{network} is outside the networks the operator allows stores to reach (Delivery__AllowedPrivateNetworks: {(_bound.Count == 0 ? "none" : string.Join(", ", _bound))}).");
            }
            else if (!networks.Contains(network.ToString()))
            {
                networks.Add(network.ToString());
            }
        }
        if (networks.Count > MaxStoreNetworks)
        {
            errors.Add($"At most {MaxStoreNetworks} networks per store.");
        }
        return (networks, errors);
    }

    /// <summary>Why a connection to <paramref name="address"/> is refused for <paramref name="scope"/>, or null when it is allowed.</summary>
    public static string? RefusalReason(IPAddress address, DestinationScope scope)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IsCloudMetadata(address))
        {
            return $"{address} is a cloud metadata address";
        }
        if (!IsNonPublic(address) || scope.Allows(address))
        {
            return null;
        }
        return $"{address} is not a public address and this store may not reach it (an operator can allow private networks per store)";
    }

    /// <summary>
    /// Create-time check of a destination URL: absolute http(s), no credentials, not a metadata service in any
    /// spelling (decimal, octal, hex or short IPv4, IPv6 forms, trailing dot), and a literal or <c>localhost</c>
    /// address the store's scope allows. Other host names are not resolved here (their answer can change); the
    /// connect-time check covers them.
    /// </summary>
    public static string? ValidateUrl(string? url, DestinationScope scope)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return "The URL must be an absolute http:// or https:// address.";
        }
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "The URL must not carry credentials.";
        }
        // Uri has already turned 2852039166, 0xa9fea9fe, 0251.0376.0251.0376 and 169.254.43518 into dotted quads.
        var host = uri.IdnHost.Trim('[', ']');
        var addresses = LiteralOrSpecialAddresses(host);
        if (addresses is null)
        {
            return CloudMetadataNames.Contains(host.TrimEnd('.'), StringComparer.OrdinalIgnoreCase)
                ? "Cloud metadata addresses are never allowed as destinations."
                : null;
        }
        foreach (var address in addresses)
        {
            if (RefusalReason(address, scope) is { } refusal)
            {
                return IsCloudMetadata(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address)
                    ? "Cloud metadata addresses are never allowed as destinations."
                    : $"Destination {host} refused: {refusal}.";
            }
        }
        return null;
    }

    /// <summary>
    /// The addresses a host stands for without asking DNS: an IP literal (a trailing dot allowed), or loopback for
    /// <c>localhost</c> and <c>*.localhost</c> (RFC 6761), whatever a resolver or hosts file would say. Null for other names.
    /// </summary>
    private static IPAddress[]? LiteralOrSpecialAddresses(string host)
    {
        var name = host.TrimEnd('.');
        if (IPAddress.TryParse(name, out var literal))
        {
            return [literal];
        }
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return [IPAddress.Loopback, IPAddress.IPv6Loopback];
        }
        return null;
    }

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/> body: resolves the host and connects only to addresses <paramref name="scope"/> allows.</summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, DestinationScope scope, CancellationToken cancellationToken)
    {
        var host = endpoint.Host.Trim('[', ']');
        var addresses = LiteralOrSpecialAddresses(host) ?? await Dns.GetHostAddressesAsync(host, cancellationToken);
        return await ConnectAsync(host, addresses, endpoint.Port, scope, cancellationToken);
    }

    /// <summary>
    /// Connects to the first allowed address of <paramref name="addresses"/> that answers. When an allowed address
    /// was tried and failed, its socket error is thrown (worth a retry) even if other addresses were refused: only a
    /// host with nothing but refused addresses ends in a <see cref="DestinationRefusedException"/>.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(string host, IReadOnlyList<IPAddress> addresses, int port, DestinationScope scope,
        CancellationToken cancellationToken)
    {
        var refusals = new List<string>();
        SocketException? lastError = null;
        foreach (var address in addresses)
        {
            var refusal = RefusalReason(address, scope);
            if (refusal is not null)
            {
                refusals.Add(refusal);
                continue;
            }
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                lastError = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        if (lastError is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lastError);
        }
        throw new DestinationRefusedException(
            refusals.Count > 0 ? $"Destination {host} refused: {string.Join("; ", refusals)}" : $"Destination {host} has no address");
    }

    /// <summary>
    /// One of <see cref="CloudMetadataAddresses"/>, also when carried inside an IPv6 address (IPv4-mapped,
    /// IPv4-compatible, IPv4-translated, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4, Teredo), which the host's
    /// dual stack, a NAT64 gateway, a 6to4 relay or a Teredo tunnel would deliver to the metadata service.
    /// </summary>
    public static bool IsCloudMetadata(IPAddress address)
    {
        foreach (var metadata in CloudMetadataAddresses)
        {
            if (SameBytes(address, metadata))
            {
                return true;
            }
        }
        foreach (var embedded in EmbeddedV4(address))
        {
            if (IsCloudMetadata(embedded))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Compares addresses without their IPv6 scope id: fd00:ec2::254%2 is still the metadata service.</summary>
    private static bool SameBytes(IPAddress a, IPAddress b)
    {
        if (a.AddressFamily != b.AddressFamily)
        {
            return false;
        }
        Span<byte> x = stackalloc byte[16];
        Span<byte> y = stackalloc byte[16];
        a.TryWriteBytes(x, out var n);
        b.TryWriteBytes(y, out _);
        return x[..n].SequenceEqual(y[..n]);
    }

    /// <summary>The IPv4 addresses an IPv6 address may carry, by the embedding its prefix implies.</summary>
    private static List<IPAddress> EmbeddedV4(IPAddress address)
    {
        var found = new List<IPAddress>();
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return found;
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        if (address.IsIPv4MappedToIPv6)
        {
            found.Add(address.MapToIPv4());
        }
        else if (b[..12].IndexOfAnyExcept((byte)0) < 0 && b[12..].IndexOfAnyExcept((byte)0) >= 0)
        {
            // IPv4-compatible ::a.b.c.d (deprecated, but dual stacks may still route it).
            found.Add(new IPAddress(b[12..16]));
        }
        else if (b[..8].IndexOfAnyExcept((byte)0) < 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)
        {
            // IPv4-translated ::ffff:0:a.b.c.d (SIIT).
            found.Add(new IPAddress(b[12..16]));
        }
        else if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            // NAT64 well-known prefix 64:ff9b::/96.
            found.Add(new IPAddress(b[12..16]));
        }
        else if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
        {
            // NAT64 local-use 64:ff9b:1::/48 (RFC 8215): the operator picks a prefix of /48 to /96, so every
            // RFC 6052 position is a candidate (bits 64-71 are skipped).
            found.Add(new IPAddress([b[6], b[7], b[9], b[10]]));
            found.Add(new IPAddress([b[7], b[9], b[10], b[11]]));
            found.Add(new IPAddress(b[9..13]));
            found.Add(new IPAddress(b[12..16]));
        }
        else if (b[0] == 0x20 && b[1] == 0x02)
        {
            // 6to4 2002:a.b.c.d::/48.
            found.Add(new IPAddress(b[2..6]));
        }
        else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
        {
            // Teredo 2001::/32: the server, and the client with its bits inverted.
            found.Add(new IPAddress(b[4..8]));
            found.Add(new IPAddress([(byte)~b[12], (byte)~b[13], (byte)~b[14], (byte)~b[15]]));
        }
        return found;
    }

    /// <summary>Loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, unique-local, tunnelled or reserved.</summary>
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
                || (b[0] == 100 && (b[1] & 0xC0) == 64)        // 100.64/10 CGNAT (and Alibaba's metadata)
                || (b[0] == 169 && b[1] == 254)                // link-local (and metadata)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)        // 172.16/12
                || (b[0] == 192 && b[1] == 168)                // 192.168/16
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2) // 192.0.0/24 IETF protocol assignments, 192.0.2/24 TEST-NET-1
                || (b[0] == 192 && b[1] == 88 && b[2] == 99)   // 192.88.99/24 6to4 relay anycast
                || (b[0] == 198 && (b[1] & 0xFE) == 18)        // 198.18/15 benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)  // TEST-NET-2
                || (b[0] == 203 && b[1] == 0 && b[2] == 113)   // TEST-NET-3
                || b[0] >= 224;                                // multicast, reserved, broadcast
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            Span<byte> b = stackalloc byte[16];
            address.TryWriteBytes(b, out _);
            if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC                                           // fc00::/7 unique-local
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)  // 2001:db8::/32 documentation
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)        // 2001::/32 Teredo
                || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1) // 64:ff9b:1::/48 local-use NAT64
                || (b[0] == 0x01 && b[1..8].IndexOfAnyExcept((byte)0) < 0))      // 100::/64 discard
            {
                return true;
            }
            // IPv4-compatible, NAT64 and 6to4 addresses carry an IPv4 address that decides where they go.
            foreach (var embedded in EmbeddedV4(address))
            {
                if (IsNonPublic(embedded))
                {
                    return true;
                }
            }
            return false;
        }
        return true;
    }

    /// <summary>
    /// A CIDR network (base address with no host bits) or a single address. IPv4 only as a plain dotted quad: an
    /// operator who types "10" or "010.0.0.0/8" gets an error, not 0.0.0.10 or 8.0.0.0/8.
    /// </summary>
    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        network = default;
        text = text.Trim();
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out var address)
            || (address.AddressFamily == AddressFamily.InterNetwork && address.ToString() != addressText))
        {
            return false;
        }
        if (slash < 0)
        {
            network = new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        // IPNetwork.TryParse would quietly clear host bits (10.20.3.1/24): a typo must not become a different network.
        return IPNetwork.TryParse(text, out network) && network.BaseAddress.Equals(address);
    }
}

/// <summary>The destination resolved only to addresses webhooks may not reach.</summary>
public sealed class DestinationRefusedException(string message) : HttpRequestException(message);
