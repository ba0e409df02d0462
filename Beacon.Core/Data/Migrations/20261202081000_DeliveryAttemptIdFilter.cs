using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class DeliveryAttemptIdFilter : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // delivery_attempts is outside EF's model (see DeliveryAttemptsTable).
            migrationBuilder.Sql(DeliveryAttemptsTable.IdFilterSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(DeliveryAttemptsTable.IdFilterDropSql);
        }
    }
}
