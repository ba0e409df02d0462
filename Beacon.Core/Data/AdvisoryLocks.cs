namespace Beacon.Core.Data;

/// <summary>
/// Every Postgres advisory lock id Beacon takes, in one place so no two uses share an id by accident (the archive's
/// partitions and the retention pass once did, and each blocked the other).
/// </summary>
public static class AdvisoryLocks
{
    /// <summary>Held while migrations run, so several processes starting at once apply them once.</summary>
    public const long Migrations = 0x42_45_41_43_4F_4E; // "BEACON"

    /// <summary>Taken around partition DDL of every day-partitioned table, and around changing the tables' owner.</summary>
    public const long PartitionDdl = 4242;

    /// <summary>Held by the one worker running a retention pass.</summary>
    public const long RetentionPass = 4244;
}
