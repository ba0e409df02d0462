using System.Text.Json;
using System.Text.Json.Serialization;

namespace Beacon.Core.Drops;

/// <summary>
/// One event that was dropped, as the store's drop log records it (<see cref="DropLogKeys"/>): written by ingestion
/// and by the worker's deletions, read by Admin.Web.
/// </summary>
public sealed record DroppedEvent(DateTimeOffset At, string Source, int Index, string EventType, string Code, string Reason, string? EventId = null)
{
    /// <summary>The record as the drop log stores it: JSON <c>{"at","source","index","event_type","code","reason","event_id"?}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, DropLogJson.Default.DroppedEvent);

    /// <exception cref="JsonException">The text is not a drop record.</exception>
    public static DroppedEvent? FromJson(string json) => JsonSerializer.Deserialize(json, DropLogJson.Default.DroppedEvent);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DroppedEvent))]
internal sealed partial class DropLogJson : JsonSerializerContext;
