using System.Net;
using System.Text;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// Writes a tiny MaxMind DB (format 2.0, IPv4, 24-bit records) mapping one network to one record, so geo lookups
/// are tested against the real reader without shipping a 100 MB database.
/// </summary>
internal static class MmdbWriter
{
    public static void Write(string path, IPAddress network, int prefixLength, Dictionary<string, object> record)
    {
        var data = new MemoryStream();
        Encode(data, record);
        var nodeCount = prefixLength;
        var bits = network.GetAddressBytes();
        var tree = new MemoryStream();
        for (var depth = 0; depth < prefixLength; depth++)
        {
            var bit = (bits[depth / 8] >> (7 - depth % 8)) & 1;
            // Toward the network: the next node, or the record after the last bit. Away from it: "no data".
            var onPath = depth == prefixLength - 1 ? nodeCount + 16 : depth + 1;
            WriteRecord(tree, bit == 0 ? onPath : nodeCount);
            WriteRecord(tree, bit == 1 ? onPath : nodeCount);
        }
        using var file = File.Create(path);
        tree.WriteTo(file);
        file.Write(new byte[16]);
        data.WriteTo(file);
        file.Write([0xAB, 0xCD, 0xEF, .. "MaxMind.com"u8]);
        var metadata = new MemoryStream();
        Encode(metadata, new Dictionary<string, object>
        {
            ["binary_format_major_version"] = (ushort)2,
            ["binary_format_minor_version"] = (ushort)0,
            ["build_epoch"] = (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["database_type"] = "Beacon-Test-City",
            ["description"] = new Dictionary<string, object> { ["en"] = "test" },
            ["ip_version"] = (ushort)4,
            ["languages"] = new List<object> { "en" },
            ["node_count"] = (uint)nodeCount,
            ["record_size"] = (ushort)24,
        });
        metadata.WriteTo(file);
    }

    private static void WriteRecord(Stream stream, int value)
    {
        stream.WriteByte((byte)(value >> 16));
        stream.WriteByte((byte)(value >> 8));
        stream.WriteByte((byte)value);
    }

    private static void Encode(Stream stream, object value)
    {
        switch (value)
        {
            case string text:
                var bytes = Encoding.UTF8.GetBytes(text);
                Control(stream, 2, bytes.Length);
                stream.Write(bytes);
                break;
            case ushort number:
                Unsigned(stream, 5, number);
                break;
            case uint number:
                Unsigned(stream, 6, number);
                break;
            case ulong number:
                Unsigned(stream, 9, number);
                break;
            case Dictionary<string, object> map:
                Control(stream, 7, map.Count);
                foreach (var (key, item) in map)
                {
                    Encode(stream, key);
                    Encode(stream, item);
                }
                break;
            case List<object> list:
                Control(stream, 11, list.Count);
                foreach (var item in list)
                {
                    Encode(stream, item);
                }
                break;
            default:
                throw new ArgumentException($"Cannot encode {value.GetType()}");
        }
    }

    private static void Unsigned(Stream stream, int type, ulong number)
    {
        var bytes = new List<byte>();
        for (var n = number; n > 0; n >>= 8)
        {
            bytes.Insert(0, (byte)n);
        }
        Control(stream, type, bytes.Count);
        stream.Write(bytes.ToArray());
    }

    // Sizes here stay below 29, so the size fits in the control byte; types above 7 use the extended form.
    private static void Control(Stream stream, int type, int size)
    {
        if (type <= 7)
        {
            stream.WriteByte((byte)((type << 5) | size));
        }
        else
        {
            stream.WriteByte((byte)size);
            stream.WriteByte((byte)(type - 7));
        }
    }
}
