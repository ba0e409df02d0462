using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class PipelineHashFieldsAndStoreSalt : Migration
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
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "identifier_salt",
                table: "stores");

            migrationBuilder.DropColumn(
                name: "hash_fields",
                table: "pipelines");
        }
    }
}
