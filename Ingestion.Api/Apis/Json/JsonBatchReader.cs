using System.Text.Json;
using Beacon.Core.Catalog;
using Beacon.Ingestion.Intake;

namespace Beacon.Ingestion.Apis.Json;

/// <summary>
/// Translates a JSON body (<c>{"events":[...]}</c>) into <see cref="ParsedEvent"/>s in one forward pass of
/// <see cref="Utf8JsonReader"/>, without building a DOM, each event by <see cref="EventJsonReader"/>. Anything wrong
/// with the body as a whole (not JSON, no <c>events</c> array, 0 or too many events) is a top-level error.
/// </summary>
public static class JsonBatchReader
{
    private const int MaxDepth = 64;

    public static JsonBatch Read(ReadOnlySpan<byte> body, EventFamily family, int maxEvents)
    {
        var events = new List<IncomingEvent>();
        var errors = new List<string>();
        var names = EventJsonReader.NamesOf(family);
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
                    errors.Add($"\"events\" must be an array of event objects, not {EventJsonReader.Describe(reader.TokenType)}.");
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
                            events.Add(ParsedEvent.Unreadable(new EventRejection(count - 1, RejectionCodes.NotAnObject,
                                $"event must be a JSON object, not {EventJsonReader.Describe(type)}")));
                        }
                        continue;
                    }
                    var (e, problem) = EventJsonReader.ReadEvent(ref reader, family, names, count - 1, ref structValues);
                    events.Add(new ParsedEvent(e) { Rejection = problem });
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
}
