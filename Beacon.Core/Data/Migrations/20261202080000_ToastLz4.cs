using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class ToastLz4 : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(ToastCompression.Lz4Sql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(ToastCompression.PglzSql);
        }
    }
}
