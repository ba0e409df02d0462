using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Core.Catalog;

/// <summary>
/// Reads one event of a JSON door (a <c>/beacon</c> or <c>/api/v1/events</c> event object) into a protobuf
/// <see cref="Event"/>, in one forward pass of <see cref="Utf8JsonReader"/>. Field names come from
/// <see cref="EventCatalog"/> (snake_case for Layers, camelCase for Alana); unknown fields are ignored and <c>null</c>
/// means absent; a field of the wrong JSON type drops its event with a reason. Ingestion reads every event of a batch
/// with it, and Admin.Web a pasted one (<see cref="ReadOne"/>), so both read exactly the same.
/// </summary>
public static class EventJsonReader
{
    private const int MaxDepth = 64;

    private static readonly FrozenDictionary<string, EventField> LayersNames =
        EventCatalog.FieldsOf(EventFamily.Layers).ToFrozenDictionary(f => f.Name, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, EventField> AlanaNames =
        EventCatalog.FieldsOf(EventFamily.Alana).ToFrozenDictionary(f => f.AlanaName, StringComparer.Ordinal);

    /// <summary>The family's JSON field names, for <see cref="ReadEvent"/>.</summary>
    public static FrozenDictionary<string, EventField>.AlternateLookup<ReadOnlySpan<char>> NamesOf(EventFamily family) =>
        (family == EventFamily.Alana ? AlanaNames : LayersNames).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// One event given alone as JSON (an object as it would stand in <c>"events"</c>), checked as ingestion checks it:
    /// the event, or why a door would drop it (read first, then <see cref="EventValidator"/>).
    /// </summary>
    public static (Event? Event, string? Error) ReadOne(string json, EventFamily family)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json), new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            if (!reader.Read())
            {
                return (null, "Paste one event as a JSON object, such as {\"event_type\":\"page_view\", …}.");
            }
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, $"The event must be a JSON object, not {Describe(reader.TokenType)}.");
            }
            var structValues = EventNesting.MaxStructValues;
            var (e, problem) = ReadEvent(ref reader, family, NamesOf(family), 0, ref structValues);
            if (reader.Read())
            {
                return (null, "Paste one event only: there is more after its closing brace.");
            }
            return (problem ?? EventValidator.Validate(e, family, 0)) is { } rejection ? (null, rejection.Reason) : (e, null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, $"Not valid JSON: {ex.Message}");
        }
    }

    /// <summary>
    /// The event object the reader is on (its <c>{</c>), read to its <c>}</c>: the event, and the first field of the
    /// wrong JSON type if any (the event is then dropped with that reason). <paramref name="structValues"/> is what
    /// is left of the request's budget for free objects (<see cref="EventNesting.MaxStructValues"/>).
    /// </summary>
    public static (Event Event, EventRejection? Problem) ReadEvent(ref Utf8JsonReader reader, EventFamily family,
        FrozenDictionary<string, EventField>.AlternateLookup<ReadOnlySpan<char>> names, int index, ref int structValues)
    {
        var e = new Event();
        EventRejection? problem = null;
        Span<char> nameBuffer = stackalloc char[64];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            EventField? field = null;
            if (reader.ValueSpan.Length <= nameBuffer.Length && !reader.ValueIsEscaped)
            {
                var length = reader.CopyString(nameBuffer);
                names.TryGetValue(nameBuffer[..length], out field);
            }
            else if (reader.GetString() is { Length: <= 64 } escaped)
            {
                names.TryGetValue(escaped.AsSpan(), out field);
            }
            reader.Read();
            if (field is null)
            {
                reader.Skip();
                continue;
            }
            if (reader.TokenType == JsonTokenType.Null)
            {
                continue;
            }
            var error = ReadField(ref reader, e, field, ref structValues);
            if (error is not null)
            {
                reader.Skip();
                problem ??= new EventRejection(index, RejectionCodes.InvalidField,
                    $"field '{(family == EventFamily.Alana ? field.AlanaName : field.Name)}' {error}");
            }
        }
        return (e, problem);
    }

    /// <summary>Sets the field from the current value; returns what is wrong with it, or null.</summary>
    private static string? ReadField(ref Utf8JsonReader reader, Event e, EventField field, ref int structValues)
    {
        switch (field.Type)
        {
            case FieldType.String:
                if (reader.TokenType != JsonTokenType.String)
                {
                    return "must be a string";
                }
                SetString(e, field, reader.GetString()!);
                return null;
            case FieldType.Identifier:
                if (ReadIdentifier(ref reader) is not { } id)
                {
                    return "must be a string or a whole number";
                }
                SetString(e, field, id);
                return null;
            case FieldType.Timestamp:
                if (reader.TokenType != JsonTokenType.String
                    || !DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
                {
                    return "must be an ISO 8601 date-time such as 2025-01-15T14:30:00Z";
                }
                e.Timestamp = Timestamp.FromDateTimeOffset(at);
                return null;
            case FieldType.PositiveInteger:
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt32(out var position) || position == 0)
                {
                    return "must be a positive whole number";
                }
                e.Position = position;
                return null;
            case FieldType.Decimal:
                var amount = reader.TokenType switch
                {
                    JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
                    JsonTokenType.String => reader.GetString(),
                    _ => null,
                };
                if (amount is null || !EventValidator.IsDecimal(amount))
                {
                    return "must be a decimal number such as 19.99";
                }
                e.Revenue = amount;
                return null;
            case FieldType.Currency:
                var code = reader.TokenType == JsonTokenType.String ? reader.GetString()!.ToUpperInvariant() : "";
                if (!EventValidator.IsCurrencyCode(code))
                {
                    return "must be a three-letter ISO 4217 code such as USD";
                }
                e.Currency = code;
                return null;
            case FieldType.Object:
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return "must be a JSON object";
                }
                var depth = reader.CurrentDepth;
                if (ReadStruct(ref reader, ref structValues) is not { } value)
                {
                    // Only the reader's own pass over the rest of the field: it builds nothing.
                    while (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != depth)
                    {
                        reader.Read();
                    }
                    return EventNesting.OverBudget;
                }
                if (EventNesting.IsTooDeep(value))
                {
                    return $"is nested too deeply to be stored (at most {EventNesting.MaxObjectLevels} levels of objects, fewer with arrays)";
                }
                if (field == EventCatalog.Metadata)
                {
                    e.Metadata = value;
                }
                else
                {
                    e.ContextualData = value;
                }
                return null;
            case FieldType.IdentifierList:
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return "must be an array of ids";
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (ReadIdentifier(ref reader) is not { } item)
                    {
                        // Leave the reader on the offending value: the caller skips the rest of the array.
                        SkipToArrayEnd(ref reader);
                        return "must be an array of ids (strings or whole numbers)";
                    }
                    e.ProductIds.Add(item);
                }
                return null;
            case FieldType.ConsentList:
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return "must be an array of consent category names";
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String || reader.GetString() is not { } category
                        || !EventValidator.IsConsentCategory(category.Length) || e.Consent.Count == EventCatalog.MaxConsentCategories)
                    {
                        SkipToArrayEnd(ref reader);
                        return EventValidator.ConsentProblem;
                    }
                    e.Consent.Add(category);
                }
                return null;
            default:
                return "is not supported";
        }
    }

    private static void SkipToArrayEnd(ref Utf8JsonReader reader)
    {
        reader.Skip();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            reader.Skip();
        }
    }

    /// <summary>A string, or an integer carried as its decimal digits (Layers sends product ids as numbers).</summary>
    private static string? ReadIdentifier(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }
        if (reader.TokenType != JsonTokenType.Number || reader.ValueSpan.IndexOfAny(".eE"u8) >= 0)
        {
            return null;
        }
        return System.Text.Encoding.ASCII.GetString(reader.ValueSpan);
    }

    // Null once the values read exhaust the budget; the reader is then left inside the object.
    private static Struct? ReadStruct(ref Utf8JsonReader reader, ref int budget)
    {
        var result = new Struct();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (ReadValue(ref reader, ref budget) is not { } value)
            {
                return null;
            }
            result.Fields[name] = value;
        }
        return result;
    }

    private static Value? ReadValue(ref Utf8JsonReader reader, ref int budget)
    {
        budget -= reader.TokenType == JsonTokenType.StartObject ? EventNesting.ObjectCost : 1;
        if (budget < 0)
        {
            return null;
        }
        return reader.TokenType switch
        {
            JsonTokenType.StartObject => ReadStruct(ref reader, ref budget) is { } value ? Value.ForStruct(value) : null,
            JsonTokenType.StartArray => ReadList(ref reader, ref budget),
            JsonTokenType.String => Value.ForString(reader.GetString()!),
            JsonTokenType.Number => Value.ForNumber(reader.GetDouble()),
            JsonTokenType.True => Value.ForBool(true),
            JsonTokenType.False => Value.ForBool(false),
            _ => Value.ForNull(),
        };
    }

    private static Value? ReadList(ref Utf8JsonReader reader, ref int budget)
    {
        var list = new ListValue();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (ReadValue(ref reader, ref budget) is not { } value)
            {
                return null;
            }
            list.Values.Add(value);
        }
        return new Value { ListValue = list };
    }

    private static void SetString(Event e, EventField field, string value) => EventStringFields.Of(field)?.Set(e, value);

    public static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => "that value",
    };
}
