namespace Beacon.Core.Webhooks;

/// <summary>How webhooks are sent (configuration section <c>Delivery</c>), shared by the worker and Admin.Web's test button.</summary>
public sealed class DeliveryOptions
{
    public const string Section = "Delivery";

    /// <summary>
    /// Lets webhooks reach loopback, private, link-local and CGNAT addresses (dev and tests only).
    /// Cloud-metadata addresses stay refused whatever this says.
    /// </summary>
    public bool AllowPrivateDestinations { get; set; }

    /// <summary>
    /// Individual non-public addresses or CIDR ranges (e.g. <c>10.20.0.0/16</c>) an operator trusts while
    /// <see cref="AllowPrivateDestinations"/> stays off, for an internal receiver on a known network.
    /// </summary>
    public List<string> AllowedPrivateNetworks { get; set; } = [];

    /// <summary>A webhook that has not answered 2xx within this time has failed (Standard Webhooks: 15 s).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How many characters of a destination's answer are kept for dead letters and the test button.</summary>
    public int ResponseExcerptLength { get; set; } = 1024;

    /// <summary>307/308 redirects followed per delivery (the POST is resent); each hop is checked by <see cref="DestinationGuard"/> again.</summary>
    public int MaxRedirects { get; set; } = 3;
}
