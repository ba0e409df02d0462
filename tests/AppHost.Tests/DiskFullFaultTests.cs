using Beacon.TestHost;
using StackExchange.Redis;

namespace Beacon.AppHost.Tests;

/// <summary>The fault system with Redis' data directory on a small tmpfs, which a scenario fills up.</summary>
public sealed class RedisOnTmpfsFaultSystem() : FaultSystem(DiskFullFaultTests.TmpfsSize);

/// <summary>
/// Disk full for the AOF, on a system of its own (<see cref="RedisOnTmpfsFaultSystem"/>): the scenarios of
/// <see cref="FaultTests"/> with Redis' data directory on a tmpfs that a filler file fills during the load. Where no
/// tmpfs can be mounted (not root) they are skipped, saying so.
/// </summary>
[Collection(nameof(WholeSystemTests))]
public sealed class DiskFullFaultTests(RedisOnTmpfsFaultSystem faults) : IClassFixture<RedisOnTmpfsFaultSystem>
{
    public const string TmpfsSize = "64M";

    private static readonly TimeSpan FaultFor = TimeSpan.FromSeconds(10);

    private string Filler => Path.Combine(faults.RedisDataDirectory, "filler");

    private List<(string ResourceId, int Pid)> Services => [.. faults.Replicas("ingestion"), .. faults.Replicas("worker")];

    [TmpfsFact]
    public async Task TheAofDiskFullWithEverysecAnswers503AcknowledgesNothingUnstoredAndRedisResumesByItself()
    {
        Assert.True(faults.RedisOnTmpfs, "the tmpfs could not be mounted over Redis' data directory");
        var redisPid = faults.System.PidOf("redis");
        var services = Services;
        using var redis = await faults.ConnectRedisAsync();
        var server = redis.GetServers()[0];
        var row = await FaultTests.RunAsync(faults, $"disk full for the AOF for {FaultFor.TotalSeconds:0} s (`appendfsync everysec`, a {TmpfsSize} tmpfs filled)", async (load, _) =>
        {
            // The shipped default (the fault system starts Redis with `always`, the other scenario).
            await server.ConfigSetAsync("appendfsync", "everysec");
            string refusal;
            long filled;
            try
            {
                filled = Tmpfs.Fill(Filler);
                // Redis refuses writes once an AOF write has failed, not when the disk fills: the fault is on from then.
                Assert.True(await UntilAsync(async () => await AofWriteStatusAsync(server) == "err", TimeSpan.FromSeconds(30)),
                    "no AOF write failed within 30 s of the disk filling up");
                refusal = await WriteRefusalAsync(redis);
                load.FaultOn = true;
                await Task.Delay(FaultFor);
                load.FaultOn = false;
            }
            finally
            {
                // The operator's action: free space. Nothing else is done; Redis retries the AOF write every second.
                File.Delete(Filler);
            }
            return $"filler of {filled / (1 << 20):N0} MB; Redis answered writes `{refusal}`; the filler deleted, " +
                   "Redis and the services not restarted; operator action: free or grow the disk";
        });
        Assert.Equal("ok", await AofWriteStatusAsync(server));
        Assert.Equal(redisPid, faults.System.PidOf("redis"));
        Assert.Equal(services, Services);
        Assert.Equal(0, row.Lost);
        Assert.Equal(0, row.AcknowledgedDuringFault);
        Assert.Contains(row.NotAcknowledged.Keys, k => k == "503 + Retry-After");
    }

    [TmpfsFact]
    public async Task TheAofDiskFullWithAlwaysStopsRedisAndAfterARestartNothingAcknowledgedIsLost()
    {
        Assert.True(faults.RedisOnTmpfs, "the tmpfs could not be mounted over Redis' data directory");
        var services = Services;
        var row = await FaultTests.RunAsync(faults, $"disk full for the AOF for {FaultFor.TotalSeconds:0} s (`appendfsync always`, a {TmpfsSize} tmpfs filled), then Redis started again", async (load, _) =>
        {
            var pid = faults.System.PidOf("redis");
            using (var redis = await faults.ConnectRedisAsync())
            {
                await redis.GetServers()[0].ConfigSetAsync("appendfsync", "always");
            }
            long filled;
            try
            {
                filled = Tmpfs.Fill(Filler);
                // With `always` a failed AOF write is fatal: Redis exits rather than answer for a write it could not sync.
                Assert.True(await UntilAsync(() => Task.FromResult(!ProcessReaper.IsAlive(pid)), TimeSpan.FromSeconds(30)),
                    "Redis did not exit within 30 s of the disk filling up");
                load.FaultOn = true;
                await Task.Delay(FaultFor);
            }
            finally
            {
                File.Delete(Filler);
            }
            load.FaultOn = false;
            await faults.StartAgainAsync("redis", waitHealthy: false);
            return $"filler of {filled / (1 << 20):N0} MB; Redis exited at the first failed AOF write " +
                   "(\"Can't recover from AOF write error when the AOF fsync policy is 'always'\"); the filler deleted and Redis " +
                   "started again, the services not restarted; operator action: free or grow the disk, start Redis";
        });
        Assert.Equal(services, Services);
        Assert.Equal(0, row.Lost);
        Assert.Equal(0, row.AcknowledgedDuringFault);
        Assert.Contains(row.NotAcknowledged.Keys, k => k == "503 + Retry-After");
    }

    /// <summary><c>aof_last_write_status</c> of <c>INFO persistence</c>: <c>ok</c>, or <c>err</c> since a write failed.</summary>
    private static async Task<string?> AofWriteStatusAsync(IServer server)
    {
        var info = await server.InfoRawAsync("persistence") ?? "";
        return info.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("aof_last_write_status:", StringComparison.Ordinal))?.Split(':')[1];
    }

    /// <summary>What Redis answers a write (a key of the test's own): its error, which must be a refusal.</summary>
    private static async Task<string> WriteRefusalAsync(ConnectionMultiplexer redis)
    {
        var error = await Assert.ThrowsAsync<RedisServerException>(() => redis.GetDatabase().StringSetAsync("faults:disk-full-probe", "1"));
        Assert.StartsWith("MISCONF", error.Message, StringComparison.Ordinal);
        return error.Message;
    }

    private static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(100);
        }
        return false;
    }
}
