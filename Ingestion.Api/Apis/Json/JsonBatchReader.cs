using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Ingestion;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.Apis.Json;

/// <summary>A JSON batch read into the shared path's terms, or the top-level problems that make it a 422.</summary>
public sealed record JsonBatch(IReadOnlyList<IncomingEvent> Events, IReadOnlyList<string> Errors);

/// <summary>
/// Translates a JSON body (<c>{"events":[...]}</c>) into protobuf <see cref="Event"/>s in one forward pass of
/// <see cref="Utf8JsonReader"/>, without building a DOM. Field names come from <see cref="EventCatalog"/>
/// (snake_case for Layers, camelCase for Alana); unknown fields are ignored and <c>null</c> means absent.
/// A field of the wrong JSON type drops its event with a reason; anything wrong with the body as a whole
/// (not JSON, no <c>events</c> array, 0 or too many events) is a top-level error.
/// </summary>
public static class JsonBatchReader
{
    private const int MaxDepth = 64;


    private static readonly FrozenDictionary<string, EventField> LayersNames =
        EventCatalog.FieldsOf(EventFamily.Layers).ToFrozenDictionary(f => f.Name, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, EventField> AlanaNames =
        EventCatalog.FieldsOf(EventFamily.Alana).ToFrozenDictionary(f => f.AlanaName, StringComparer.Ordinal);

    public static JsonBatch Read(ReadOnlySpan<byte> body, EventFamily family, int maxEvents)
    {
        var events = new List<IncomingEvent>();
        var errors = new List<string>();
        var names = (family == EventFamily.Alana ? AlanaNames : LayersNames).GetAlternateLookup<ReadOnlySpan<char>>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxDepth });
        var count = 0;
        var structValues = EventNesting.MaxStructValues;
        var sawEvents = false;
        if (body.Trim(" \t\r\n"u8).IsEmpty)
        {
            return Fail("The body is empty: send a JSON object such as {\"events\":[{...}]}.");
        }
        try
        {
            if (!reader.Read())
            {
                return Fail("The body is empty: send a JSON object such as {\"events\":[{...}]}.");
            }
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                EnsureEnd(ref reader);
                return Fail("The body must be a JSON object with an \"events\" array, such as {\"events\":[{...}]}.");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("events"u8))
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                reader.Read();
                if (sawEvents)
                {
                    errors.Add("The body has more than one \"events\" property; send one array.");
                    reader.Skip();
                    continue;
                }
                sawEvents = true;
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    errors.Add($"\"events\" must be an array of event objects, not {Describe(reader.TokenType)}.");
                    reader.Skip();
                    continue;
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    count++;
                    if (count > maxEvents || reader.TokenType != JsonTokenType.StartObject)
                    {
                        var type = reader.TokenType;
                        reader.Skip();
                        if (count <= maxEvents)
                        {
                            events.Add(IncomingEvent.Rejected(new EventRejection(count - 1, RejectionCodes.NotAnObject,
                                $"event must be a JSON object, not {Describe(type)}")));
                        }
                        continue;
                    }
                    events.Add(ReadEvent(ref reader, family, names, count - 1, ref structValues));
                }
            }
            EnsureEnd(ref reader);
        }
        catch (JsonException ex)
        {
            return Fail($"The body is not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            // Thrown when a string holds invalid UTF-8 or an unpaired surrogate escape.
            return Fail($"The body is not valid JSON: {ex.Message}");
        }
        if (!sawEvents)
        {
            errors.Add("The body has no \"events\" property: send {\"events\":[{...}]} with 1 to " + maxEvents + " events.");
        }
        else if (errors.Count == 0 && count == 0)
        {
            errors.Add("\"events\" is empty: send 1 to " + maxEvents + " events.");
        }
        else if (count > maxEvents)
        {
            errors.Add($"\"events\" has {count} events; send at most {maxEvents} per request.");
        }
        return errors.Count > 0 ? new JsonBatch([], errors) : new JsonBatch(events, errors);
    }

    private static JsonBatch Fail(string error) => new([], [error]);

    // The reader only reports trailing garbage when asked for the next token.
    private static void EnsureEnd(ref Utf8JsonReader reader)
    {
        if (reader.Read())
        {
            throw new JsonException($"unexpected content after the JSON value at byte {reader.TokenStartIndex}.");
        }
    }

    private static IncomingEvent ReadEvent(ref Utf8JsonReader reader, EventFamily family,
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
        return problem is null ? IncomingEvent.Of(e) : new IncomingEvent(e, problem);
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
                    if (reader.TokenType != JsonTokenType.String || reader.GetString() is not { Length: > 0 } category
                        || category.Length > field.MaxLength || e.Consent.Count == EventCatalog.MaxConsentCategories)
                    {
                        SkipToArrayEnd(ref reader);
                        return $"must be an array of at most {EventCatalog.MaxConsentCategories} names of 1 to {field.MaxLength} characters";
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

    private static string Describe(JsonTokenType type) => type switch
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
