using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// Server-assigned event ids: UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, 74 random bits), as
/// <see cref="Guid.CreateVersion7()"/> makes them, but with the random bits taken from a per-thread buffer that one
/// <see cref="RandomNumberGenerator.Fill"/> call refills every 409 ids. On Linux <c>Guid.CreateVersion7</c> reads
/// <c>/dev/urandom</c> once per id, which showed as about a tenth of the service's CPU when every event of a
/// batch needed a server id.
/// </summary>
public static class EventIds
{
    private const int BufferSize = 4096;
    private const int RandomBytes = 10;

    [ThreadStatic] private static byte[]? t_random;
    [ThreadStatic] private static int t_used;

    public static Guid NewUuidV7(long unixMilliseconds)
    {
        var random = t_random;
        if (random is null || t_used > BufferSize - RandomBytes)
        {
            random = t_random ??= new byte[BufferSize];
            RandomNumberGenerator.Fill(random);
            t_used = 0;
        }
        Span<byte> bytes = stackalloc byte[16];
        // Bytes 0-5: the timestamp, big-endian; 6-15: random, then the version and variant bits are set.
        BinaryPrimitives.WriteInt64BigEndian(bytes, unixMilliseconds << 16);
        random.AsSpan(t_used, RandomBytes).CopyTo(bytes[6..]);
        t_used += RandomBytes;
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F));
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return new Guid(bytes, bigEndian: true);
    }
}
