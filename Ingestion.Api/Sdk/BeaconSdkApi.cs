using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Beacon.Ingestion.Sdk;

/// <summary>
/// Serves the browser SDK (<c>Sdk/beacon.js</c>, embedded in the assembly so it works from <c>dotnet run</c>,
/// a published build and WebApplicationFactory alike) at <c>/sdk/beacon.js</c>.
/// </summary>
public static class BeaconSdkApi
{
    public const string ScriptPath = "/sdk/beacon.js";
    private const string ResourceName = "Beacon.Ingestion.Sdk.beacon.js";

    // The URL carries no version, so caches keep it briefly and then revalidate with the ETag.
    private const string CacheControl = "public, max-age=300, stale-while-revalidate=3600";

    private static readonly Lazy<SdkScript> Script = new(LoadScript);

    public static IEndpointConventionBuilder MapBeaconSdk(this IEndpointRouteBuilder app) =>
        app.MapGet(ScriptPath, GetScript)
            .WithName("BeaconSdkScript")
            .ExcludeFromDescription();

    public static FileContentHttpResult GetScript(HttpResponse response)
    {
        var script = Script.Value;
        // Storefronts load it from their own origin: any page may fetch it, also with COEP enabled.
        response.Headers.AccessControlAllowOrigin = "*";
        response.Headers["Cross-Origin-Resource-Policy"] = "cross-origin";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = CacheControl;
        // The result answers If-None-Match with 304 itself.
        return TypedResults.Bytes(script.Content, "text/javascript; charset=utf-8", entityTag: script.ETag);
    }

    private static SdkScript LoadScript()
    {
        using var stream = typeof(BeaconSdkApi).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing from Ingestion.Api");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        var content = buffer.ToArray();
        var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..16];
        return new SdkScript(content, new EntityTagHeaderValue($"\"{hash}\""));
    }

    private sealed record SdkScript(byte[] Content, EntityTagHeaderValue ETag);
}
