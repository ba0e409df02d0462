using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Npgsql;

namespace Beacon.Core.Data;

/// <summary>
/// Rows of a binary <c>COPY … FROM STDIN (FORMAT BINARY)</c> encoded here, in Postgres's own format, and written to
/// the raw copy stream (<see cref="NpgsqlConnection.BeginRawBinaryCopyAsync"/>) in large chunks. Npgsql's
/// <see cref="NpgsqlBinaryImporter"/> resolves a type and binds a parameter for every value: with twenty columns a row,
/// that was a third of the worker's CPU when writing the events table. Used for every table the worker COPYs into.
/// </summary>
public sealed class BinaryCopyRows
{
    private const int FlushAt = 256 * 1024;
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    private readonly ArrayBufferWriter<byte> _buffer = new(FlushAt + 64 * 1024);
    private readonly Stream _copy;

    private BinaryCopyRows(Stream copy)
    {
        _copy = copy;
        // Signature ("PGCOPY\n\xff\r\n\0"), flags (no OIDs), header extension length.
        ReadOnlySpan<byte> signature = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00];
        signature.CopyTo(_buffer.GetSpan(signature.Length));
        _buffer.Advance(signature.Length);
        Int32(0);
        Int32(0);
    }

    /// <summary>Starts a binary COPY on the connection; <paramref name="copySql"/> must say <c>FORMAT BINARY</c>.</summary>
    public static async Task<(BinaryCopyRows Rows, NpgsqlRawCopyStream Stream)> BeginAsync(
        NpgsqlConnection connection, string copySql, CancellationToken cancellationToken)
    {
        var stream = await connection.BeginRawBinaryCopyAsync(copySql, cancellationToken);
        return (new BinaryCopyRows(stream), stream);
    }

    public void StartRow(short columns) => Int16(columns);

    public void Null() => Int32(-1);

    /// <summary>A text value; null and empty are NULL, and U+0000, which text cannot hold, is dropped.</summary>
    public void TextOrNull(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            Null();
        }
        else
        {
            Text(value);
        }
    }

    /// <summary>A text value (empty stays empty); U+0000, which text cannot hold, is dropped.</summary>
    public void Text(string value)
    {
        value = PostgresText.WithoutNul(value);
        var span = _buffer.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var length = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, length);
        _buffer.Advance(4 + length);
    }

    public void Uuid(Guid value)
    {
        var span = _buffer.GetSpan(20);
        BinaryPrimitives.WriteInt32BigEndian(span, 16);
        value.TryWriteBytes(span[4..], bigEndian: true, out _);
        _buffer.Advance(20);
    }

    /// <summary>A <c>timestamptz</c>: microseconds since 2000-01-01 UTC.</summary>
    public void Timestamp(DateTimeOffset value)
    {
        var span = _buffer.GetSpan(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], (value.UtcTicks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
        _buffer.Advance(12);
    }

    public void Integer(int value)
    {
        Int32(4);
        Int32(value);
    }

    public void Bytea(ReadOnlySpan<byte> value)
    {
        var span = _buffer.GetSpan(4 + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(span, value.Length);
        value.CopyTo(span[4..]);
        _buffer.Advance(4 + value.Length);
    }

    /// <summary>A one-dimensional <c>text[]</c> without NULLs; U+0000 is dropped from each element as in <see cref="Text"/>.</summary>
    public void TextArray(IReadOnlyList<string> values)
    {
        const int TextOid = 25;
        var elements = new byte[values.Count][];
        var length = values.Count == 0 ? 12 : 20;
        for (var i = 0; i < values.Count; i++)
        {
            elements[i] = Encoding.UTF8.GetBytes(PostgresText.WithoutNul(values[i]));
            length += 4 + elements[i].Length;
        }
        Int32(length);
        Int32(values.Count == 0 ? 0 : 1); // dimensions
        Int32(0); // no NULLs
        Int32(TextOid);
        if (values.Count > 0)
        {
            Int32(values.Count);
            Int32(1); // lower bound
        }
        foreach (var element in elements)
        {
            Bytea(element);
        }
    }

    /// <summary>A <c>jsonb</c> from its UTF-8 text (version 1 of the binary format: a version byte, then the text).</summary>
    public void Jsonb(ReadOnlySpan<byte> utf8Json)
    {
        var span = _buffer.GetSpan(5 + utf8Json.Length);
        BinaryPrimitives.WriteInt32BigEndian(span, 1 + utf8Json.Length);
        span[4] = 1;
        utf8Json.CopyTo(span[5..]);
        _buffer.Advance(5 + utf8Json.Length);
    }

    /// <summary>Hands what is encoded to the copy stream once it is large enough to be worth a write.</summary>
    public ValueTask FlushIfFullAsync(CancellationToken cancellationToken) =>
        _buffer.WrittenCount >= FlushAt ? FlushAsync(cancellationToken) : ValueTask.CompletedTask;

    /// <summary>Writes the trailer and the rest; the caller then disposes the stream, which ends the COPY.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        Int16(-1);
        await FlushAsync(cancellationToken);
    }

    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await _copy.WriteAsync(_buffer.WrittenMemory, cancellationToken);
        _buffer.ResetWrittenCount();
    }

    private void Int16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
    }

    private void Int32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }
}
