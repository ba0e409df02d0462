using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Beacon.Core.Data.Migrations
{
    /// <inheritdoc />
    public partial class SealedWebhookSecrets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // NOT VALID: enforced on every write from now on, while rows written before secrets were encrypted stay
            // readable until WebhookSecretProtector.SealPlaintextSecretsAsync (the migrate command) seals them
            // and validates the constraints. SQL cannot seal them: the master key is not in the database.
            migrationBuilder.Sql(
                "ALTER TABLE pipelines ADD CONSTRAINT ck_pipelines_previous_secret_sealed CHECK (previous_secret IS NULL OR previous_secret LIKE 'enc:v1:%') NOT VALID;");
            migrationBuilder.Sql(
                "ALTER TABLE pipelines ADD CONSTRAINT ck_pipelines_secret_sealed CHECK (secret LIKE 'enc:v1:%') NOT VALID;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "ck_pipelines_previous_secret_sealed",
                table: "pipelines");

            migrationBuilder.DropCheckConstraint(
                name: "ck_pipelines_secret_sealed",
                table: "pipelines");
        }
    }
}
