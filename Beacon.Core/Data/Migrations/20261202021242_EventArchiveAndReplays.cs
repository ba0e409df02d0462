using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class EventArchiveAndReplays : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Day-partitioned tables are outside EF's model (see EventArchiveTable, DeliveryAttemptsTable).
            migrationBuilder.Sql(EventArchiveTable.CreateSql);
            migrationBuilder.Sql(DeliveryAttemptsTable.CreateSql);

            migrationBuilder.CreateTable(
                name: "replays",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    store_id = table.Column<Guid>(type: "uuid", nullable: false),
                    pipeline_id = table.Column<Guid>(type: "uuid", nullable: false),
                    from = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    to = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    total = table.Column<long>(type: "bigint", nullable: true),
                    scanned = table.Column<long>(type: "bigint", nullable: false),
                    sent = table.Column<long>(type: "bigint", nullable: false),
                    skipped = table.Column<long>(type: "bigint", nullable: false),
                    cursor_received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    cursor_entry_id = table.Column<string>(type: "character varying(300)", maxLength: 300, nullable: true),
                    leased_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    error = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    completed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_replays", x => x.id);
                    table.ForeignKey(
                        name: "fk_replays_pipelines_pipeline_id",
                        column: x => x.pipeline_id,
                        principalTable: "pipelines",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_replays_pipeline_id_created_at",
                table: "replays",
                columns: new[] { "pipeline_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_replays_status",
                table: "replays",
                column: "status");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(EventArchiveTable.DropSql);
            migrationBuilder.Sql(DeliveryAttemptsTable.DropSql);

            migrationBuilder.DropTable(
                name: "replays");
        }
    }
}
