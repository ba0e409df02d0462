namespace Beacon.Core.Delivery;

/// <summary>How webhooks are sent (configuration section <c>Delivery</c>), shared by the worker and Admin.Web's test button.</summary>
public sealed class DeliveryOptions
{
    public const string Section = "Delivery";

    /// <summary>
    /// Dev and tests only: every store without a list of its own may reach loopback, private, link-local and CGNAT
    /// addresses, and a store's own list may name any network. Cloud-metadata addresses stay refused whatever this says.
    /// </summary>
    public bool AllowPrivateDestinations { get; set; }

    /// <summary>
    /// The operator's upper bound while <see cref="AllowPrivateDestinations"/> is off: individual non-public
    /// addresses or CIDR networks (e.g. <c>10.20.0.0/16</c>) that an operator may grant to a store
    /// (<c>Store.AllowedPrivateNetworks</c>). It grants no store anything by itself.
    /// </summary>
    public List<string> AllowedPrivateNetworks { get; set; } = [];

    /// <summary>A webhook that has not answered 2xx within this time has failed (Standard Webhooks: 15 s).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How many characters of a destination's answer are kept for dead letters and shown by a pipeline test (text answers only).</summary>
    public int ResponseExcerptLength { get; set; } = 1024;

    /// <summary>
    /// How long reading that excerpt may take once the status has arrived. The status alone decides the outcome,
    /// so a receiver that answers 2xx and then stalls its body has still taken the batch.
    /// </summary>
    public TimeSpan ResponseExcerptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>307/308 redirects followed per delivery (the POST is resent); each hop is checked by <see cref="DestinationGuard"/> again.</summary>
    public int MaxRedirects { get; set; } = 3;
}
