using Google.Protobuf;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// Protobuf's wire format read by hand, for what the generated parsers do not offer: finding where each event's
/// bytes are in a request (<see cref="ReceivedMarshaller"/>) and reading an event without building it (<see cref="WireEvent"/>).
/// Every method returns false where protobuf's own parser would fail, and <see cref="TryReadValue"/> also for
/// groups (proto3 has none), so a caller can leave such bytes to protobuf.
/// </summary>
public static class ProtoWire
{
    /// <summary>Reads a field's tag: its number (1 or more) and wire type.</summary>
    public static bool TryReadTag(ReadOnlySpan<byte> bytes, scoped ref int position, out int number, out WireFormat.WireType type)
    {
        number = 0;
        type = default;
        if (!TryReadVarint(bytes, ref position, out var tag) || tag >> 3 == 0 || tag > uint.MaxValue)
        {
            return false;
        }
        number = (int)(tag >> 3);
        type = (WireFormat.WireType)(tag & 7);
        return true;
    }

    /// <summary>
    /// Reads the value after a tag of wire type <paramref name="type"/>: a varint into <paramref name="varint"/>, a
    /// length-delimited value into <paramref name="delimited"/>, fixed-size values skipped. False for groups, wire
    /// types that do not exist, and values that run past the end.
    /// </summary>
    public static bool TryReadValue(ReadOnlySpan<byte> bytes, scoped ref int position, WireFormat.WireType type, out ulong varint, out ReadOnlySpan<byte> delimited)
    {
        varint = 0;
        delimited = default;
        switch (type)
        {
            case WireFormat.WireType.Varint:
                return TryReadVarint(bytes, ref position, out varint);
            case WireFormat.WireType.Fixed64:
                return Skip(bytes, ref position, 8);
            case WireFormat.WireType.Fixed32:
                return Skip(bytes, ref position, 4);
            case WireFormat.WireType.LengthDelimited:
                if (!TryReadVarint(bytes, ref position, out var length) || length > (ulong)(bytes.Length - position))
                {
                    return false;
                }
                delimited = bytes.Slice(position, (int)length);
                position += (int)length;
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Skips the fields of a group whose start tag of field <paramref name="number"/> was just read, through its end
    /// tag. False when they run past the end, the end tag is another field's, or groups nest more than
    /// <paramref name="maxDepth"/> deep.
    /// </summary>
    public static bool TrySkipGroup(ReadOnlySpan<byte> bytes, scoped ref int position, int number, int maxDepth)
    {
        if (maxDepth <= 0)
        {
            return false;
        }
        while (TryReadTag(bytes, ref position, out var inner, out var type))
        {
            if (type == WireFormat.WireType.EndGroup)
            {
                return inner == number;
            }
            var skipped = type == WireFormat.WireType.StartGroup
                ? TrySkipGroup(bytes, ref position, inner, maxDepth - 1)
                : TryReadValue(bytes, ref position, type, out _, out _);
            if (!skipped)
            {
                return false;
            }
        }
        return false;
    }

    /// <summary>Whether <paramref name="bytes"/> are a sequence of well-formed fields (their contents unchecked).</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> bytes)
    {
        var position = 0;
        while (position < bytes.Length)
        {
            if (!TryReadTag(bytes, ref position, out _, out var type) || !TryReadValue(bytes, ref position, type, out _, out _))
            {
                return false;
            }
        }
        return true;
    }

    public static bool TryReadVarint(ReadOnlySpan<byte> bytes, scoped ref int position, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && position < bytes.Length; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }
        return false;
    }

    private static bool Skip(ReadOnlySpan<byte> bytes, scoped ref int position, int count)
    {
        if (count > bytes.Length - position)
        {
            return false;
        }
        position += count;
        return true;
    }
}
