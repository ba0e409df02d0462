using System.Text.Json;
using System.Text.Json.Nodes;
using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Beacon.Core.Catalog;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Pages.EventTypes;

public sealed record CodeExample(string Key, string Title, string Code);

/// <summary>The event-type reference, generated from <see cref="EventCatalog"/> with copy-paste examples.</summary>
[OutputCache(PolicyName = AdminCache.Pages)]
public sealed class IndexModel(IOptions<AdminOptions> options, IConfiguration configuration) : PageModel
{
    private const string SampleTimestamp = "2025-01-15T10:00:00Z";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Ingestion's URL: configured, else the AppHost's service reference, else the dev default.</summary>
    public string IngestionUrl => (options.Value.IngestionUrl
        ?? configuration["services:ingestion:http:0"]
        ?? "http://localhost:5080").TrimEnd('/');

    public string GrpcAddress => options.Value.IngestionGrpcAddress
        ?? configuration["services:ingestion:grpc:0"]?.Replace("http://", "", StringComparison.Ordinal).TrimEnd('/')
        ?? "localhost:5081";

    public void OnGet()
    {
    }

    public string Anchor(EventTypeDefinition type) => $"{type.Family.ToString().ToLowerInvariant()}-{type.Name}";

    public IReadOnlyList<CodeExample> ExamplesOf(EventTypeDefinition type)
    {
        var evt = SampleEvent(type);
        var body = new JsonObject { ["events"] = new JsonArray(evt) };
        var bodyText = body.ToJsonString(Indented);
        var compact = body.ToJsonString();

        if (type.Family == EventFamily.Alana)
        {
            var url = $"{IngestionUrl}/api/v1/events";
            return
            [
                new("curl", "curl", $"curl -X POST '{url}' \\\n  -H 'x-api-key: YOUR_TOKEN' \\\n  -H 'Content-Type: application/json' \\\n  -d '{compact}'"),
                new("fetch", "fetch", $"await fetch('{url}', {{\n  method: 'POST',\n  headers: {{ 'x-api-key': 'YOUR_TOKEN', 'Content-Type': 'application/json' }},\n  body: JSON.stringify({bodyText.Replace("\n", "\n  ", StringComparison.Ordinal)}),\n}});"),
            ];
        }

        var beaconUrl = $"{IngestionUrl}/beacon";
        return
        [
            new("fetch", "fetch", $"await fetch('{beaconUrl}', {{\n  method: 'POST',\n  headers: {{ 'X-Storefront-Access-Token': 'YOUR_TOKEN', 'Content-Type': 'application/json' }},\n  body: JSON.stringify({bodyText.Replace("\n", "\n  ", StringComparison.Ordinal)}),\n  keepalive: true,\n}});"),
            new("beacon", "sendBeacon (page unload)", $"navigator.sendBeacon(\n  '{beaconUrl}?token=YOUR_TOKEN',\n  JSON.stringify({bodyText.Replace("\n", "\n  ", StringComparison.Ordinal)}),\n);"),
            new("curl", "curl", $"curl -X POST '{beaconUrl}' \\\n  -H 'X-Storefront-Access-Token: YOUR_TOKEN' \\\n  -H 'Content-Type: application/json' \\\n  -d '{compact}'"),
            new("grpc", "gRPC (grpcurl)", $"grpcurl -plaintext \\\n  -H 'x-storefront-access-token: YOUR_TOKEN' \\\n  -d '{GrpcBody(evt)}' \\\n  {GrpcAddress} beacon.v1.EventIngest/Send"),
        ];
    }

    private static JsonObject SampleEvent(EventTypeDefinition type)
    {
        var example = JsonNode.Parse(type.ExampleJson)!.AsObject();
        JsonObject evt;
        if (type.Family == EventFamily.Alana)
        {
            evt = new JsonObject
            {
                ["eventType"] = type.Name,
                ["visitorId"] = "v_5d1c0e",
                ["timestamp"] = SampleTimestamp,
            };
        }
        else
        {
            evt = new JsonObject
            {
                ["event_type"] = type.Name,
                ["timestamp"] = SampleTimestamp,
                ["session_id"] = "sess_9f3b2a",
            };
        }
        foreach (var (name, value) in example)
        {
            evt[name] = value?.DeepClone();
        }
        return evt;
    }

    /// <summary>The protobuf JSON form: numbers in string fields (product ids) become strings.</summary>
    private static string GrpcBody(JsonObject evt)
    {
        var copy = evt.DeepClone().AsObject();
        foreach (var name in copy.Select(p => p.Key).ToList())
        {
            if (copy[name] is JsonValue value && value.GetValueKind() == JsonValueKind.Number && name != "position")
            {
                copy[name] = value.ToJsonString();
            }
        }
        return new JsonObject { ["events"] = new JsonArray(copy) }.ToJsonString();
    }
}
