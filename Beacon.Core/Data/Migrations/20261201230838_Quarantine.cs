using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class Quarantine : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "quarantine",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    stream = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    entry_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    field_names = table.Column<List<string>>(type: "text[]", nullable: false),
                    field_values = table.Column<List<byte[]>>(type: "bytea[]", nullable: false),
                    error = table.Column<string>(type: "text", nullable: false),
                    store_id = table.Column<Guid>(type: "uuid", nullable: true),
                    first_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quarantine", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_quarantine_store_id_first_seen_at",
                table: "quarantine",
                columns: new[] { "store_id", "first_seen_at" });

            migrationBuilder.CreateIndex(
                name: "ix_quarantine_stream_entry_id",
                table: "quarantine",
                columns: new[] { "stream", "entry_id" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "quarantine");
        }
    }
}
