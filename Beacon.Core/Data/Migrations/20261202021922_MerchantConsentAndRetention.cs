using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class MerchantConsentAndRetention : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "dead_letter_retention_days",
                table: "stores",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "event_retention_days",
                table: "stores",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<List<string>>(
                name: "required_consent",
                table: "pipelines",
                type: "text[]",
                nullable: false,
                // Existing pipelines require no consent: today's behaviour.
                defaultValueSql: "'{}'::text[]");

            migrationBuilder.AddColumn<long>(
                name: "consent_missing",
                table: "delivery_stats",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "dead_letter_retention_days",
                table: "stores");

            migrationBuilder.DropColumn(
                name: "event_retention_days",
                table: "stores");

            migrationBuilder.DropColumn(
                name: "required_consent",
                table: "pipelines");

            migrationBuilder.DropColumn(
                name: "consent_missing",
                table: "delivery_stats");
        }
    }
}
