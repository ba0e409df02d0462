using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class EventArchiveIdFilter : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // event_archive is outside EF's model (see EventArchiveTable).
            migrationBuilder.Sql(EventArchiveTable.IdFilterSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(EventArchiveTable.IdFilterDropSql);
        }
    }
}
