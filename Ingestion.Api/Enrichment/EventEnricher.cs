using Beacon.Core.Catalog;
using Beacon.Ingestion.Intake;
using Beacon.Protos.Queue;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// Adds what only the server knows (DESIGN §2): geo (Cloudflare headers from a trusted proxy, else the
/// optional geo database), device type, browser and OS from the User-Agent, and the shopping channel.
/// The client IP is only looked up, never copied into the envelope.
/// </summary>
public sealed class EventEnricher(UserAgentParser userAgents, GeoLocator geo)
{
    public RequestEnrichment Describe(ClientInfo client)
    {
        string? country = null, state = null, city = null;
        if (client.CloudflareCountry is not null)
        {
            // "XX" and "T1" are Cloudflare's unknown and Tor markers, not countries.
            country = client.CloudflareCountry is "XX" or "T1" ? null : client.CloudflareCountry.ToUpperInvariant();
            state = client.CloudflareRegion;
            city = client.CloudflareCity?.ToLowerInvariant();
        }
        else if (geo.Lookup(client.IpAddress) is { } found)
        {
            (country, state, city) = (found.Country, found.State, found.City);
        }
        var ua = userAgents.Parse(client.UserAgent);
        var channel = IsMerchantApp(client.RequestedWith) || ua.IsMerchantApp ? "app" : "web";
        return new RequestEnrichment(country ?? "", state ?? "", city ?? "", ua.DeviceType, ua.Browser, ua.Os, channel);
    }

    /// <summary>
    /// The defaults an accepted event gets, whichever door it came by: a server event id when the client sent none
    /// (a UUIDv7 of the request's receipt), the request's shopping channel unless the event names one, and for the
    /// Layers family an empty <c>contextual_data</c> when it has none.
    /// </summary>
    public static EventDefaults DefaultsOf(IncomingEvent e, RequestEnrichment facts, EventFamily family, long receivedAtUnixMilliseconds) => new(
        e.EventId.Length == 0 ? EventIds.NewUuidV7(receivedAtUnixMilliseconds) : null,
        e.HasShoppingChannel ? null : facts.ShoppingChannel,
        family == EventFamily.Layers && !e.HasContextualData);

    /// <summary>The envelope fields every event of a request shares (its <c>Event</c> is left unset: the queue's <c>EncodedBatch</c> writes each event beside them).</summary>
    public static EnrichedEvent Envelope(RequestEnrichment facts, Guid storeId, string source, Timestamp receivedAt) => new()
    {
        StoreId = storeId.ToString(),
        Source = source,
        ReceivedAt = receivedAt,
        GeoCountry = facts.GeoCountry,
        GeoState = facts.GeoState,
        GeoCity = facts.GeoCity,
        DeviceType = facts.DeviceType,
        Browser = facts.Browser,
        Os = facts.Os,
    };

    private static bool IsMerchantApp(string? requestedWith) =>
        requestedWith is not null
        && (requestedWith.Contains("tapcart", StringComparison.OrdinalIgnoreCase)
            || requestedWith.Contains("fuego", StringComparison.OrdinalIgnoreCase));
}
