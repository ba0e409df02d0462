namespace Beacon.Ingestion.Enrichment;

/// <summary>The server-side facts of one request, shared by all its events.</summary>
public sealed record RequestEnrichment(
    string GeoCountry, string GeoState, string GeoCity, string DeviceType, string Browser, string Os, string ShoppingChannel);
