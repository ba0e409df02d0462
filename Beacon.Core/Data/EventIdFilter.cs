using System.IO.Hashing;
using System.Text;
using Npgsql;

namespace Beacon.Core.Data;

/// <summary>
/// The Bloom filter of the event ids of a row that holds a batch of them (<c>event_archive</c>,
/// <c>delivery_attempts</c>: columns <c>store_id</c>, <c>event_ids</c> and <c>event_id_filter</c>), in place of a GIN
/// index on the ids: an index entry per event cost more of Postgres's time than writing the rows themselves
/// (docs/debugging.md). An event is found by walking the store's rows on a btree and testing each row's filter, a few
/// bytes kept in the row; only a match reads the ids.
/// </summary>
public static class EventIdFilter
{
    /// <summary>
    /// The condition of a row holding any of the ids <c>$2</c> (text[]) of the store <c>$1</c>, given their
    /// <see cref="Probes"/> as <c>$3</c> and <c>$4</c> (bigint[]): the filter first, so only a match (or a false
    /// positive, ~0.2%) reads the ids. A row without a filter (written before it existed) is tested on its ids.
    /// </summary>
    public const string HoldsAnyIdSql = """
        store_id = $1 AND CASE WHEN event_id_filter IS NULL OR EXISTS (
            SELECT 1 FROM unnest($3::bigint[], $4::bigint[]) AS p(h1, h2)
            WHERE get_bit(event_id_filter, (p.h1 % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + p.h2) % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + 2 * p.h2) % (8 * length(event_id_filter)))::int) = 1
              AND get_bit(event_id_filter, ((p.h1 + 3 * p.h2) % (8 * length(event_id_filter)))::int) = 1)
        THEN event_ids && $2::text[] ELSE false END
        """;

    private const int BitsPerId = 16; // with 4 probes: ~0.24% false positives
    private const int ProbeCount = 4;

    /// <summary>The filter of a row's event ids: 16 bits an id, so 200 bytes for a batch of 100.</summary>
    public static byte[] Of(IReadOnlyList<string> eventIds)
    {
        var filter = new byte[Math.Max(1, eventIds.Count) * BitsPerId / 8];
        var bits = (long)filter.Length * 8;
        foreach (var id in eventIds)
        {
            var (h1, h2) = Probe(id);
            for (var i = 0; i < ProbeCount; i++)
            {
                var bit = (h1 + i * h2) % bits;
                // get_bit numbers the bits of a byte from the least significant one.
                filter[bit >> 3] |= (byte)(1 << (int)(bit & 7));
            }
        }
        return filter;
    }

    /// <summary>The parameters <c>$3</c> and <c>$4</c> of <see cref="HoldsAnyIdSql"/> for these ids.</summary>
    public static (long[] H1, long[] H2) Probes(IReadOnlyList<string> eventIds)
    {
        var probes = eventIds.Select(Probe).ToArray();
        return (Array.ConvertAll(probes, p => p.H1), Array.ConvertAll(probes, p => p.H2));
    }

    /// <summary>A query over <see cref="HoldsAnyIdSql"/> with its four parameters; the caller adds any others.</summary>
    public static NpgsqlCommand Command(NpgsqlDataSource dataSource, string sql, Guid storeId, IReadOnlyList<string> eventIds) =>
        WithParameters(dataSource.CreateCommand(sql), storeId, eventIds);

    /// <summary>The same on a connection already open.</summary>
    public static NpgsqlCommand Command(NpgsqlConnection connection, string sql, Guid storeId, IReadOnlyList<string> eventIds) =>
        WithParameters(new NpgsqlCommand(sql, connection), storeId, eventIds);

    private static NpgsqlCommand WithParameters(NpgsqlCommand command, Guid storeId, IReadOnlyList<string> eventIds)
    {
        var (h1, h2) = Probes(eventIds);
        command.Parameters.Add(new() { Value = storeId });
        command.Parameters.Add(new() { Value = eventIds.ToArray() });
        command.Parameters.Add(new() { Value = h1 });
        command.Parameters.Add(new() { Value = h2 });
        return command;
    }

    // Two 32-bit halves of one 64-bit hash make the four probes (Kirsch–Mitzenmacher); non-negative, so SQL's % agrees.
    private static (long H1, long H2) Probe(string eventId)
    {
        var hash = XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(eventId));
        return ((long)(uint)hash, (long)(hash >> 32));
    }
}
