using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Beacon.Core.Data;

/// <summary>
/// The services' own Postgres roles (DESIGN §5: every service has its own credentials), created or brought up to date
/// by the migrate step, which runs as the database's owner, after every migration (so new tables are covered):
/// <list type="bullet">
/// <item><c>beacon_ingestion</c> reads access tokens and nothing else: the service on the open internet can neither
/// write nor read secrets, users or events;</item>
/// <item><c>beacon_admin</c> reads and writes rows of every table, and changes no table;</item>
/// <item><c>beacon_worker</c> also owns the tables (through <c>beacon_owner</c>), since it creates and drops their day
/// partitions.</item>
/// </list>
/// None of them is a superuser. A role whose password is not configured (<c>Beacon:ServiceRoles:*</c>) is left alone.
/// </summary>
public static class ServiceRoles
{
    public const string Section = "Beacon:ServiceRoles";
    public const string Ingestion = "beacon_ingestion";
    public const string Admin = "beacon_admin";
    public const string Worker = "beacon_worker";
    public const string Owner = "beacon_owner";

    /// <summary>Creates or updates the roles whose passwords are configured; returns their names.</summary>
    public static async Task<IReadOnlyList<string>> EnsureAsync(BeaconDbContext db, IConfiguration configuration, CancellationToken cancellationToken)
    {
        var section = configuration.GetSection(Section);
        var roles = new (string Role, string? Password, string Grants)[]
        {
            (Ingestion, section["Ingestion"], $"GRANT SELECT ON access_tokens TO {Ingestion};"),
            (Admin, section["Admin"], $"""
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {Admin};
                GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {Admin};
                """),
            (Worker, section["Worker"], $"GRANT {Owner} TO {Worker};"),
        };
        var configured = roles.Where(r => !string.IsNullOrEmpty(r.Password)).ToList();
        if (configured.Count == 0)
        {
            return [];
        }
        // Tables created by migrations belong to whoever ran them: they move to the owner role the worker acts as.
        var sql = new System.Text.StringBuilder($$"""
            SELECT pg_advisory_xact_lock({{AdvisoryLocks.PartitionDdl}});
            DO $roles$
            DECLARE t record;
            BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{Owner}}') THEN CREATE ROLE {{Owner}} NOLOGIN; END IF;
              FOR t IN SELECT tablename FROM pg_tables
                       WHERE schemaname = 'public' AND tableowner = current_user AND tablename <> '__ef_migrations_history' LOOP
                EXECUTE format('ALTER TABLE public.%I OWNER TO {{Owner}}', t.tablename);
              END LOOP;
            END $roles$;
            GRANT USAGE, CREATE ON SCHEMA public TO {{Owner}};
            """);
        foreach (var (role, password, grants) in configured)
        {
            sql.Append($$"""
                DO $create$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{role}}') THEN CREATE ROLE {{role}} LOGIN; END IF;
                END $create$;
                ALTER ROLE {{role}} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{{password!.Replace("'", "''")}}';
                GRANT USAGE ON SCHEMA public TO {{role}};
                {{grants}}
                """);
        }
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var command = new NpgsqlCommand(sql.ToString(), connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            await using (var connect = new NpgsqlCommand(
                $"GRANT CONNECT ON DATABASE \"{connection.Database.Replace("\"", "\"\"")}\" TO {string.Join(", ", configured.Select(r => r.Role))}", connection, transaction))
            {
                await connect.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
        return configured.Select(r => r.Role).ToList();
    }
}
