using System.Diagnostics;
using System.Globalization;
using System.Net;
using Beacon.Core.Queue;
using StackExchange.Redis;

namespace Beacon.AppHost.Tests;

/// <summary>The fault system on a local Redis Cluster of 3 masters and 3 replicas, with or without <c>Queue:ReplicaAcks</c>.</summary>
public sealed class RedisClusterFaultSystem(int replicaAcks) : FaultSystem(redisTmpfsSize: null, redisClusterMasters: Masters,
    replicaAcks > 0 ? ["--Queue:ReplicaAcks", replicaAcks.ToString(CultureInfo.InvariantCulture), "--Queue:ReplicaAckTimeout", "00:00:01"] : [])
{
    public const int Masters = 3;
}

/// <summary>
/// A Redis Cluster failover through the whole system: the AppHost on 3 masters + 3 replicas (the queue split in 3
/// partitions), load at the highest rate <see cref="FaultLoad"/> drives here, and the master holding the store's
/// partition SIGKILLed; its replica takes over, and the killed node is started again and rejoins as the new master's
/// replica. Redis replication is asynchronous: only with <c>Queue__ReplicaAcks=1</c> (ingestion answers 2xx once a
/// replica has the events) is nothing acknowledged lost; without it the loss is measured, not asserted. Each scenario
/// starts a system of its own (the setting is read at start, and a failover leaves the cluster changed).
/// </summary>
[Collection(nameof(WholeSystemTests))]
public sealed class RedisClusterFaultTests
{
    /// <summary>Senders without a pause between requests: what FaultLoad drives at most on 2 shared cores (more only queue up).</summary>
    private const int FullRateSenders = 16;

    [Fact]
    public async Task AMasterSigkilledAtFullRateWithReplicaAcksLosesNoAcknowledgedEvent()
    {
        var row = await FailOverAsync(replicaAcks: 1);
        Assert.Equal(0, row.Lost);
        Assert.NotNull(row.Recovery);
    }

    [Fact]
    public async Task AMasterSigkilledAtFullRateWithoutReplicaAcksIsMeasured()
    {
        // What is lost is reported (the row), not asserted: an acknowledged append the replica had not received yet
        // vanishes with its master. Half-stored requests are asserted 0 by RunAsync.
        var row = await FailOverAsync(replicaAcks: 0);
        Assert.True(row.Acknowledged > 0, "nothing was acknowledged");
    }

    private static async Task<FaultRow> FailOverAsync(int replicaAcks)
    {
        var faults = new RedisClusterFaultSystem(replicaAcks);
        try
        {
            await faults.InitializeAsync();
            return await FaultTests.RunAsync(faults,
                $"Redis Cluster 3 masters + 3 replicas, the store's master SIGKILLed at full rate, `Queue__ReplicaAcks={replicaAcks}`",
                (load, _, storeId) => KillTheStoresMasterAsync(faults, load, storeId),
                senders: FullRateSenders, pause: TimeSpan.Zero);
        }
        finally
        {
            await faults.DisposeAsync();
        }
    }

    /// <summary>
    /// SIGKILLs the master of the store's partition; the fault lasts until its replica says it is the master. Then the
    /// killed node is started again; returns the timeline for the row's notes.
    /// </summary>
    private static async Task<string> KillTheStoresMasterAsync(FaultSystem faults, FaultLoad load, Guid storeId)
    {
        using var redis = await faults.ConnectRedisAsync();
        var stream = QueueKeys.Stream(QueueKeys.PartitionOf(storeId, RedisClusterFaultSystem.Masters));
        var masterPort = ((IPEndPoint)redis.GetDatabase().IdentifyEndpoint(stream)!).Port;
        var master = redis.GetServer("127.0.0.1", masterPort);
        var pid = int.Parse(Field(await master.InfoRawAsync("server"), "process_id")!, CultureInfo.InvariantCulture);
        // slave0:ip=127.0.0.1,port=6380,state=online,offset=…,lag=0
        var replicaPort = int.Parse(Field(await master.InfoRawAsync("replication"), "slave0")!.Split(',')
            .Single(p => p.StartsWith("port=", StringComparison.Ordinal))["port=".Length..], CultureInfo.InvariantCulture);
        var replica = redis.GetServer("127.0.0.1", replicaPort);
        var node = $"redis-{masterPort - faults.RedisPorts[0] + 1}";

        var failedBefore = load.Failed.Count;
        var acknowledgedBefore = load.Acknowledged.Count;
        var clock = Stopwatch.StartNew();
        FaultSystem.Kill(pid);
        load.FaultOn = true;
        await UntilAsync(async () => Field(await replica.InfoRawAsync("replication"), "role") == "master", "the replica took over");
        load.FaultOn = false;
        var promoted = clock.Elapsed;
        var firstAcknowledgement = load.WaitForAcknowledgementAsync(TimeSpan.FromMinutes(3));

        await faults.StartAgainAsync(node, waitHealthy: false);
        var started = clock.Elapsed;
        // The new master sees the killed node back as its replica once the full sync is done (state=online).
        await UntilAsync(async () => Field(await replica.InfoRawAsync("replication"), "slave0") is { } slave
                                     && slave.Contains($"port={masterPort},", StringComparison.Ordinal)
                                     && slave.Contains("state=online", StringComparison.Ordinal), "the killed node rejoined as a replica");
        var rejoined = clock.Elapsed;
        var first = await firstAcknowledgement;
        var failedMeanwhile = load.Failed.Count - failedBefore;
        return $"{node} (port {masterPort}, holding {stream}) SIGKILLed after {acknowledgedBefore:N0} events acknowledged; " +
               $"its replica (port {replicaPort}) master after {FaultRow.Seconds(promoted)}; " +
               $"first 201 {(first is { } f ? FaultRow.Seconds(promoted + f) : "—")} after the kill; " +
               $"killed node started again at {FaultRow.Seconds(started)}, back as the new master's replica (synced) at {FaultRow.Seconds(rejoined)}; " +
               $"{failedMeanwhile:N0} requests failed from the kill until the node had rejoined and a 201 had come";
    }

    /// <summary>The value of <c>name:value</c> in an INFO reply.</summary>
    private static string? Field(string? info, string name) =>
        (info ?? "").Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..];

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (RedisException)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }
}
