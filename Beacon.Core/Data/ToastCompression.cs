namespace Beacon.Core.Data;

/// <summary>
/// Large values (an archived batch of 100 events is ~25 KB, its ids ~4 KB; retry and dead-letter payloads, the ids of
/// a delivery attempt) are compressed by Postgres's TOAST, with pglz unless a column says otherwise. lz4 compresses
/// them about as well at a quarter of the CPU (docs/debugging.md): after the migrations, every compressible column of
/// the schema's tables and their partitions not yet set to lz4 is (a catalog read when all are); partitions created
/// later inherit it from their table. A Postgres built without lz4 keeps pglz, and a table this role cannot alter
/// keeps what it has.
/// </summary>
public static class ToastCompression
{
    public const string Lz4Sql = """
        DO $$
        DECLARE c record;
        BEGIN
          FOR c IN
            SELECT cl.relname, a.attname
            FROM pg_attribute a
            JOIN pg_class cl ON cl.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = cl.relnamespace
            WHERE n.nspname = current_schema() AND cl.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attstorage IN ('x', 'm') AND a.attcompression = ''
          LOOP
            BEGIN
              EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION lz4', c.relname, c.attname);
            EXCEPTION WHEN insufficient_privilege THEN
              RAISE NOTICE 'table % keeps pglz: not its owner', c.relname;
            END;
          END LOOP;
        EXCEPTION WHEN feature_not_supported THEN
          RAISE NOTICE 'this Postgres has no lz4: TOAST keeps pglz';
        END $$;
        """;
}
