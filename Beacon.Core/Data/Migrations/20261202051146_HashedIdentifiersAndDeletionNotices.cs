using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class HashedIdentifiersAndDeletionNotices : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<byte[]>(
                name: "identifier_salt",
                table: "stores",
                type: "bytea",
                nullable: false,
                // A volatile default is evaluated per row: every existing store gets a salt of its own.
                defaultValueSql: "sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8'))");

            migrationBuilder.AddColumn<List<string>>(
                name: "hash_fields",
                table: "pipelines",
                type: "text[]",
                nullable: false,
                // Existing pipelines hash nothing: today's behaviour.
                defaultValueSql: "'{}'::text[]");

            migrationBuilder.CreateTable(
                name: "deletion_notices",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    deletion_id = table.Column<Guid>(type: "uuid", nullable: false),
                    store_id = table.Column<Guid>(type: "uuid", nullable: false),
                    pipeline_id = table.Column<Guid>(type: "uuid", nullable: false),
                    message_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    body = table.Column<byte[]>(type: "bytea", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    next_attempt_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    leased_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_status = table.Column<int>(type: "integer", nullable: true),
                    last_error = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_deletion_notices", x => x.id);
                    table.ForeignKey(
                        name: "fk_deletion_notices_pipelines_pipeline_id",
                        column: x => x.pipeline_id,
                        principalTable: "pipelines",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_deletion_notices_next_attempt_at",
                table: "deletion_notices",
                column: "next_attempt_at");

            migrationBuilder.CreateIndex(
                name: "ix_deletion_notices_pipeline_id",
                table: "deletion_notices",
                column: "pipeline_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "deletion_notices");

            migrationBuilder.DropColumn(
                name: "identifier_salt",
                table: "stores");

            migrationBuilder.DropColumn(
                name: "hash_fields",
                table: "pipelines");
        }
    }
}
