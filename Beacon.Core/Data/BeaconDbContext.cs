using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Core.Data;

/// <summary>The one Postgres model (DESIGN §5), shared by every service; tables use snake_case names.</summary>
public sealed class BeaconDbContext(DbContextOptions<BeaconDbContext> options) : IdentityDbContext<BeaconUser>(options)
{
    public DbSet<Store> Stores => Set<Store>();
    public DbSet<AccessToken> AccessTokens => Set<AccessToken>();
    public DbSet<Pipeline> Pipelines => Set<Pipeline>();
    public DbSet<StoreMember> StoreMembers => Set<StoreMember>();
    public DbSet<DeliveryStat> DeliveryStats => Set<DeliveryStat>();
    public DbSet<RetryBatch> RetryBatches => Set<RetryBatch>();
    public DbSet<DeadLetter> DeadLetters => Set<DeadLetter>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<StoredEvent> Events => Set<StoredEvent>();
    public DbSet<QuarantinedEntry> Quarantine => Set<QuarantinedEntry>();
    public DbSet<DataDeletion> DataDeletions => Set<DataDeletion>();
    public DbSet<Replay> Replays => Set<Replay>();
    public DbSet<DeletionNotice> DeletionNotices => Set<DeletionNotice>();

    public const string IdentifierSaltSql = "sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8'))";

    public const string SecretSealedConstraint = "ck_pipelines_secret_sealed";
    public const string PreviousSecretSealedConstraint = "ck_pipelines_previous_secret_sealed";

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);

        builder.Entity<Store>(e =>
        {
            e.Property(s => s.Name).HasMaxLength(200);
            // Rows written without EF (and those before the column existed) get theirs from Postgres's strong random
            // source (gen_random_uuid: 122 random bits each, two of them hashed to 32 bytes).
            e.Property(s => s.IdentifierSalt).HasDefaultValueSql(IdentifierSaltSql);
        });

        builder.Entity<AccessToken>(e =>
        {
            e.HasIndex(t => t.TokenHash).IsUnique();
            e.HasIndex(t => t.StoreId);
            e.Property(t => t.Name).HasMaxLength(200);
            e.Property(t => t.TokenHash).HasMaxLength(64);
            e.Property(t => t.DisplayPrefix).HasMaxLength(32);
            e.HasOne(t => t.Store).WithMany(s => s.Tokens).HasForeignKey(t => t.StoreId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<Pipeline>(e =>
        {
            e.HasIndex(p => p.StoreId);
            e.Property(p => p.Name).HasMaxLength(200);
            e.Property(p => p.Kind).HasMaxLength(16);
            e.Property(p => p.Url).HasMaxLength(2048);
            e.Property(p => p.Settings).HasColumnType("jsonb");
            // Signing secrets are stored sealed only (WebhookSecretProtector); the database refuses a plaintext one.
            e.ToTable(t =>
            {
                t.HasCheckConstraint(SecretSealedConstraint, $"secret LIKE '{Security.SecretBox.Prefix}%'");
                t.HasCheckConstraint(PreviousSecretSealedConstraint, $"previous_secret IS NULL OR previous_secret LIKE '{Security.SecretBox.Prefix}%'");
            });
            e.HasOne(p => p.Store).WithMany(s => s.Pipelines).HasForeignKey(p => p.StoreId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<StoreMember>(e =>
        {
            e.HasKey(m => new { m.StoreId, m.UserId });
            e.HasOne(m => m.Store).WithMany(s => s.Members).HasForeignKey(m => m.StoreId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne(m => m.User).WithMany(u => u.Stores).HasForeignKey(m => m.UserId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<DeliveryStat>(e =>
        {
            e.HasKey(s => new { s.PipelineId, s.Minute });
            e.HasOne<Pipeline>().WithMany().HasForeignKey(s => s.PipelineId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<RetryBatch>(e =>
        {
            e.HasIndex(r => r.NextAttemptAt);
            e.HasIndex(r => r.PipelineId);
            e.HasOne<Pipeline>().WithMany().HasForeignKey(r => r.PipelineId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<DeadLetter>(e =>
        {
            e.HasIndex(d => new { d.PipelineId, d.CreatedAt });
            e.Property(d => d.EventId).HasMaxLength(64);
            e.Property(d => d.EventType).HasMaxLength(64);
            e.HasOne<Pipeline>().WithMany().HasForeignKey(d => d.PipelineId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<QuarantinedEntry>(e =>
        {
            e.ToTable("quarantine");
            // The worker may find the same entry unreadable twice (a crash between the insert and the ack): one row.
            e.HasIndex(q => new { q.Stream, q.EntryId }).IsUnique();
            e.HasIndex(q => new { q.StoreId, q.FirstSeenAt });
            e.Property(q => q.Stream).HasMaxLength(200);
            e.Property(q => q.EntryId).HasMaxLength(64);
        });

        builder.Entity<DataDeletion>(e =>
        {
            e.HasIndex(d => new { d.StoreId, d.RequestedAt });
            e.HasIndex(d => new { d.Status, d.RequestedAt });
            e.Property(d => d.IdentifierField).HasMaxLength(16);
            e.Property(d => d.IdentifierValue).HasMaxLength(256);
            e.Property(d => d.Status).HasMaxLength(16);
            e.Property(d => d.RequestedBy).HasMaxLength(256);
            e.Property(d => d.LiftedBy).HasMaxLength(256);
            e.Property(d => d.Deleted).HasColumnType("jsonb");
        });

        builder.Entity<DeletionNotice>(e =>
        {
            e.HasIndex(n => n.NextAttemptAt);
            e.Property(n => n.MessageId).HasMaxLength(64);
            // A deleted pipeline is owed nothing.
            e.HasOne<Pipeline>().WithMany().HasForeignKey(n => n.PipelineId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<Replay>(e =>
        {
            e.HasIndex(r => new { r.PipelineId, r.CreatedAt });
            e.HasIndex(r => r.Status);
            e.Property(r => r.Status).HasMaxLength(16);
            e.Property(r => r.CursorEntryId).HasMaxLength(300);
            e.HasOne<Pipeline>().WithMany().HasForeignKey(r => r.PipelineId).OnDelete(DeleteBehavior.Cascade);
        });

        builder.Entity<ApiKey>(e =>
        {
            e.HasIndex(k => k.KeyHash).IsUnique();
            e.Property(k => k.KeyHash).HasMaxLength(64);
            e.Property(k => k.DisplayPrefix).HasMaxLength(32);
            e.HasOne(k => k.User).WithMany().HasForeignKey(k => k.UserId).OnDelete(DeleteBehavior.Cascade);
        });

        // The events table is day-partitioned, which EF cannot express: the migration creates it with SQL
        // (see EventsTable) and EF only reads it.
        builder.Entity<StoredEvent>(e =>
        {
            e.ToTable("events", t => t.ExcludeFromMigrations());
            e.HasKey(x => new { x.EventId, x.PipelineId, x.ReceivedAt });
            e.Property(x => x.Data).HasColumnType("jsonb");
        });
    }
}
