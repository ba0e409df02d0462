using System.Text.Json;
using System.Text.Json.Serialization;

namespace Beacon.Ingestion.Apis.Json;

/// <summary><c>{"error":"..."}</c>: 401, 403, 429, 503.</summary>
public sealed record ErrorBody(string Error);

/// <summary><c>{"errors":["..."]}</c>: 413 and 422, one message per problem.</summary>
public sealed record ErrorsBody(IReadOnlyList<string> Errors);

/// <summary>The answer of <c>?validate=1</c>: per index of the batch, accepted or the reason it would be dropped.</summary>
public sealed record ValidationReport(int Accepted, int Rejected, IReadOnlyList<ValidationResult> Results);

public sealed record ValidationResult(int Index, string Status, string? Reason = null);

/// <summary>Alana's success body: <c>{"status":"ok","stored":N,"errors":M}</c>.</summary>
public sealed record AlanaResponse(string Status, int Stored, int Errors);

/// <summary>Request body of <c>POST /beacon</c> as documented in OpenAPI (the server reads it with a streaming reader).</summary>
public sealed record BeaconBatchDocument(IReadOnlyList<JsonElement> Events);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(ErrorsBody))]
[JsonSerializable(typeof(ValidationReport))]
[JsonSerializable(typeof(AlanaResponse))]
[JsonSerializable(typeof(BeaconBatchDocument))]
[JsonSerializable(typeof(EventTypesDocument))]
public sealed partial class IngestionJsonContext : JsonSerializerContext;
