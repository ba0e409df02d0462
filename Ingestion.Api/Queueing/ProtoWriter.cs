using System.Text;
using Google.Protobuf;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// Protobuf fields written by hand at an offset of the queue's pooled buffer: the framing of
/// <see cref="EncodedBatch"/> and the fields written after an event's own encoding (its defaults, a normalized value).
/// Each method returns where its bytes end.
/// </summary>
public static class ProtoWriter
{
    // A Guid's "D" text: 36 ASCII characters, lower case, as Guid.ToString() gives it.
    private const int GuidTextLength = 36;

    public static int WriteVarint(Span<byte> buffer, int offset, uint value)
    {
        while (value >= 0x80)
        {
            buffer[offset++] = (byte)(value | 0x80);
            value >>= 7;
        }
        buffer[offset++] = (byte)value;
        return offset;
    }

    /// <summary>The size of a length-delimited field of <paramref name="field"/> holding <paramref name="length"/> bytes.</summary>
    public static int DelimitedSize(int field, int length) =>
        CodedOutputStream.ComputeTagSize(field) + CodedOutputStream.ComputeLengthSize(length) + length;

    /// <summary>Writes the tag and length of a length-delimited field; its <paramref name="length"/> bytes follow.</summary>
    public static int WriteDelimitedHeader(Span<byte> buffer, int offset, int field, int length)
    {
        offset = WriteVarint(buffer, offset, WireFormat.MakeTag(field, WireFormat.WireType.LengthDelimited));
        return WriteVarint(buffer, offset, (uint)length);
    }

    public static int StringSize(int field, string value) => DelimitedSize(field, Encoding.UTF8.GetByteCount(value));

    public static int WriteString(Span<byte> buffer, int offset, int field, string value)
    {
        offset = WriteDelimitedHeader(buffer, offset, field, Encoding.UTF8.GetByteCount(value));
        return offset + Encoding.UTF8.GetBytes(value, buffer[offset..]);
    }

    /// <summary>The size of a string field holding a Guid's text.</summary>
    public static int GuidTextSize(int field) => DelimitedSize(field, GuidTextLength);

    /// <summary>A string field holding <paramref name="id"/>'s text, formatted straight into UTF-8 (no string).</summary>
    public static int WriteGuidText(Span<byte> buffer, int offset, int field, Guid id)
    {
        offset = WriteDelimitedHeader(buffer, offset, field, GuidTextLength);
        id.TryFormat(buffer.Slice(offset, GuidTextLength), out var written);
        return offset + written;
    }
}
