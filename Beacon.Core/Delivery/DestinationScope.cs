using System.Net;

namespace Beacon.Core.Delivery;

/// <summary>
/// The non-public addresses one store's webhooks may reach: none, every one (the dev/test switch
/// <see cref="DeliveryOptions.AllowPrivateDestinations"/>), or a list of networks. Public addresses are always
/// reachable and cloud-metadata addresses never, whatever the scope says. Built by <see cref="DestinationGuard.ScopeFor"/>.
/// </summary>
public sealed class DestinationScope
{
    public static readonly DestinationScope PublicOnly = new(false, []);
    public static readonly DestinationScope AllPrivate = new(true, []);

    private DestinationScope(bool allPrivate, IReadOnlyList<IPNetwork> networks)
    {
        AllowsAllPrivate = allPrivate;
        Networks = networks;
        // Connections are pooled per scope (see WebhookSender): two stores with equal scopes may share them.
        Key = allPrivate ? "*" : string.Join(",", networks.Select(n => n.ToString()).Order(StringComparer.Ordinal));
    }

    public static DestinationScope Of(IReadOnlyList<IPNetwork> networks) => networks.Count == 0 ? PublicOnly : new(false, networks);

    public bool AllowsAllPrivate { get; }

    public IReadOnlyList<IPNetwork> Networks { get; }

    /// <summary>Identifies the scope's rules: equal keys allow the same addresses.</summary>
    public string Key { get; }

    /// <summary>Whether the scope lets a webhook reach the non-public <paramref name="address"/>.</summary>
    public bool Allows(IPAddress address)
    {
        if (AllowsAllPrivate)
        {
            return true;
        }
        foreach (var network in Networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    public override string ToString() => AllowsAllPrivate ? "every private network" : Networks.Count == 0 ? "public addresses only" : Key;
}
