using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Enrichment;

/// <summary>The server-side facts of one request, shared by all its events.</summary>
public sealed record RequestEnrichment(
    string GeoCountry, string GeoState, string GeoCity, string DeviceType, string Browser, string Os, string ShoppingChannel);

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

    // One empty object shared by every event that had none (an empty Struct costs ~200 bytes to allocate). Nothing
    // after enrichment changes an event's contextual data; whoever would must give the event its own Struct first.
    private static readonly Struct EmptyContextualData = new();

    /// <summary>
    /// Completes an accepted event in place: shopping_channel and contextual_data defaults. (A missing event_id is
    /// the ingestion path's to assign: a received event gets it as bytes, see <see cref="EventPatch"/>.)
    /// </summary>
    public static void Complete(Event e, RequestEnrichment facts, bool layers)
    {
        if (e.ShoppingChannel.Length == 0)
        {
            e.ShoppingChannel = facts.ShoppingChannel;
        }
        if (layers && e.ContextualData is null)
        {
            e.ContextualData = EmptyContextualData;
        }
    }

    /// <summary>The envelope fields every event of a request shares (its <c>Event</c> is left unset: see <see cref="EncodedBatch"/>).</summary>
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
