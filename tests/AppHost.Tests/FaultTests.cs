using System.Diagnostics;
using Beacon.Core.Queue;
using StackExchange.Redis;

namespace Beacon.AppHost.Tests;

/// <summary>
/// Whole-system faults, one at a time, on the real AppHost (<see cref="FaultSystem"/>) under storefront load with
/// unique event ids: every acknowledged (2xx) event must reach the webhook receiver and the events table. With
/// <c>BEACON_FAULTS_LONG=1</c> (scripts/faults) the outages last as long as issue 14 asks (Postgres 5 min, receiver
/// 10 min, 10 worker kills); in the test suite they are shorter. Each scenario writes a row of docs/reliability.md.
/// </summary>
[Collection(nameof(WholeSystemTests))]
public sealed class FaultTests(FaultSystem faults, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<FaultSystem>
{
    private const int SigStop = 19;
    private const int SigCont = 18;
    private const int SigInt = 2;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(FaultRow.LongRun ? 15 : 5);

    /// <summary>How late a webhook retry may come after its delay drawn long (the retry scheduler polls every second).</summary>
    private static readonly TimeSpan ScheduleSlack = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WorkersSigkilledUnderLoadLoseNoAcknowledgedEvent()
    {
        var kills = FaultRow.LongRun ? 10 : 3;
        var reclaims = new List<Task<Reclaim>>();
        // What the workers log about reclaiming, stalls and failures, with the test's clock (the console of
        // `scripts/faults … --logger "console;verbosity=detailed"` shows it).
        await using var workerLog = WorkerLog.Watch(faults, ["Reclaimed", "warn:", "fail:", "Could not", "stall", "Consumer "]);
        var row = await RunAsync($"worker SIGKILL ×{kills} under load (2 workers)", async (load, _) =>
        {
            workerLog.Mark("load running, first kill now");
            var restarts = new List<(string Consumer, TimeSpan Reading)>();
            // Each replica's consumer in the group, and every consumer name seen so far.
            var consumers = new[] { await ConsumerOfAsync(faults, faults.Replicas("worker")[0].Pid), await ConsumerOfAsync(faults, faults.Replicas("worker")[1].Pid) };
            var seen = (await ConsumersAsync(faults)).ToHashSet();
            for (var i = 0; i < kills; i++)
            {
                var (resourceId, pid) = faults.Replicas("worker")[i % 2];
                var (consumer, survivor) = (consumers[i % 2], consumers[(i + 1) % 2]);
                var sinceKill = Stopwatch.StartNew();
                FaultSystem.Kill(pid);
                workerLog.Mark($"kill #{i + 1}: {resourceId} (consumer {consumer}); surviving: {survivor}");
                reclaims.Add(ReclaimAsync(faults, consumer, survivor));
                await Task.Delay(TimeSpan.FromSeconds(2));
                await faults.StartAgainAsync(resourceId);
                // Aspire said the replica was healthy ~0.5 s after the start command while its new process read its first
                // entry ~12 s later (presumably a snapshot with the killed process's health), so the next kill took the
                // only worker left and both were down for ~11 s. The replacement is back once its consumer is in the group (it reads).
                consumers[i % 2] = await NewConsumerAsync(faults, seen);
                workerLog.Mark($"{resourceId} reading again as {consumers[i % 2]}");
                restarts.Add((consumers[i % 2], sinceKill.Elapsed));
            }
            var timelines = (await Task.WhenAll(reclaims)).Zip(restarts, (t, r) => t with { Restarted = r.Consumer, RestartedReading = r.Reading }).ToList();
            Assert.All(timelines, t => Assert.True(t.Acked is not null, $"the entries of {t.Consumer} were not all acked within 5 min: {t}"));
            var slowest = timelines.MaxBy(t => t.SeenClaimed)!;
            return $"each killed worker's pending entries taken over by the other within {FaultRow.Seconds(slowest.SeenClaimed!.Value)} " +
                   $"(Worker__ClaimMinIdle {FaultRow.Seconds(FaultSystem.ClaimMinIdle)}; default 2 min); after each kill: " +
                   string.Join("; ", timelines.Select((t, i) => $"#{i + 1} {t}"));
        }, async storeId =>
        {
            var attempts = await faults.AttemptsAsync(storeId);
            var slow = attempts.Where(a => a.Duration > TimeSpan.FromSeconds(1)).ToList();
            return $"{attempts.Count:N0} webhook attempts, {attempts.Count(a => a.Number > 1):N0} of them retries, " +
                   $"{slow.Count:N0} slower than 1 s (slowest {FaultRow.Seconds(attempts.Count == 0 ? TimeSpan.Zero : attempts.Max(a => a.Duration))})";
        });
        foreach (var line in workerLog.Lines)
        {
            output.WriteLine(line);
        }
        Assert.Equal(0, row.Lost);
    }

    [Fact]
    public async Task AnIngestionReplicaSigkilledUnderLoadLosesNoAcknowledgedEventAndHalfStoresNothing()
    {
        var row = await RunAsync("ingestion SIGKILL under load (2 replicas behind the AppHost's proxy)", async (load, _) =>
        {
            var (resourceId, pid) = faults.Replicas("ingestion")[0];
            FaultSystem.Kill(pid);
            await Task.Delay(TimeSpan.FromSeconds(3));
            await faults.StartAgainAsync(resourceId);
            return "in-flight requests of the killed replica failed; each failed request's events stored all or none";
        });
        Assert.Equal(0, row.Lost);
    }

    [Fact]
    public async Task RedisSigkilledWithAppendfsyncAlwaysLosesNoAcknowledgedEventAndIngestionRecoversByItself()
    {
        var services = faults.Replicas("ingestion").Concat(faults.Replicas("worker")).ToList();
        var row = await RunAsync("Redis SIGKILL under load (`appendfsync always`), restarted after 5 s", async (load, _) =>
        {
            var pid = faults.System.PidOf("redis");
            FaultSystem.Kill(pid);
            load.FaultOn = true;
            await Task.Delay(TimeSpan.FromSeconds(5));
            // The fault ends when the start is asked for: Redis answers within a second, long before Aspire's next
            // health check reports it, and a 2xx from then on is for a stored event.
            load.FaultOn = false;
            await faults.StartAgainAsync("redis", waitHealthy: false);
            return "ingestion and workers not restarted";
        });
        Assert.Equal(services, faults.Replicas("ingestion").Concat(faults.Replicas("worker")).ToList());
        Assert.Equal(0, row.Lost);
        Assert.Equal(0, row.AcknowledgedDuringFault);
        Assert.Contains(row.NotAcknowledged.Keys, k => k == "503 + Retry-After");
    }

    [Fact]
    public async Task RedisUnreachableFor30SecondsAnswers503AndEverythingResumesByItself()
    {
        var row = await RunAsync("Redis unreachable 30 s (SIGSTOP … SIGCONT)", async (load, _) =>
        {
            var pid = faults.System.PidOf("redis");
            Beacon.TestHost.ProcessReaper.Signal(pid, SigStop);
            load.FaultOn = true;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30));
                load.FaultOn = false;
            }
            finally
            {
                Beacon.TestHost.ProcessReaper.Signal(pid, SigCont);
            }
            return "nothing restarted";
        });
        Assert.Equal(0, row.Lost);
        Assert.Equal(0, row.AcknowledgedDuringFault);
    }

    [Fact]
    public async Task RedisAtMaxmemoryAnswers503AndNeverAcknowledgesWhatItDidNotStore()
    {
        var row = await RunAsync("Redis `maxmemory` reached (noeviction) for 10 s", async (load, _) =>
        {
            using var redis = await faults.ConnectRedisAsync();
            var server = redis.GetServers()[0];
            await server.ConfigSetAsync("maxmemory-policy", "noeviction");
            await server.ConfigSetAsync("maxmemory", "1");
            // Only from here on: a request sent before the limit took effect may be stored and acknowledged.
            load.FaultOn = true;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(10));
                load.FaultOn = false;
            }
            finally
            {
                await server.ConfigSetAsync("maxmemory", "0");
            }
            return "operator action: raise `maxmemory` (CONFIG SET) or free memory; ingestion recovers by itself";
        });
        Assert.Equal(0, row.Lost);
        Assert.Equal(0, row.AcknowledgedDuringFault);
        Assert.Contains(row.NotAcknowledged.Keys, k => k == "503 + Retry-After");
    }

    [Fact]
    public async Task PostgresDownKeepsIngestionAndWebhooksGoingAndTheEventsTableCatchesUp()
    {
        var outage = FaultRow.LongRun ? TimeSpan.FromMinutes(5) : TimeSpan.FromSeconds(30);
        var row = await RunAsync($"Postgres down {(outage.TotalMinutes >= 1 ? $"{outage.TotalMinutes:0} min" : $"{outage.TotalSeconds:0} s")} (fast shutdown, then started again)", async (load, receiver) =>
        {
            // A store created during the outage cannot be (its pipelines live in Postgres); a store this run's
            // workers never loaded stands in for it: created now, first sent to while Postgres is down. Ingestion must
            // know its token, though (an unseen token cannot be checked without Postgres): dry runs (?validate=1) pass
            // the token check on both replicas and queue nothing, so the workers still never saw the store.
            await using var unseenReceiver = await WebhookReceiver.StartAsync();
            var (_, unseenToken) = await faults.CreateStoreAsync("faults unseen " + Guid.NewGuid().ToString("N")[..6], unseenReceiver.Url);
            await FaultLoad.DryRunAsync(faults.IngestionUrl, unseenToken, times: 20);
            var postmaster = int.Parse(File.ReadLines(Path.Combine(faults.System.DataDirectory, "postgres", "postmaster.pid")).First());
            var acknowledgedBefore = load.Acknowledged.Count;
            // SIGINT: Postgres' fast shutdown (it closes every connection and exits).
            Beacon.TestHost.ProcessReaper.Signal(postmaster, SigInt);
            var outageClock = Stopwatch.StartNew();
            await using (var unseen = FaultLoad.Start(faults.IngestionUrl, unseenToken, "unseen", senders: 1, pause: TimeSpan.FromMilliseconds(200)))
            {
                // From the unseen store's first event in the queue on, the known store's webhooks must go on flowing.
                Assert.NotNull(await unseen.WaitForAcknowledgementAsync(outage));
                var atWebhookOnceUnseenQueued = receiver.EventIds.Count;
                await Task.Delay(outage > outageClock.Elapsed ? outage - outageClock.Elapsed : TimeSpan.Zero);
                await unseen.StopAsync();
                var deliveredDuringOutage = receiver.EventIds.Count - atWebhookOnceUnseenQueued;
                Assert.True(deliveredDuringOutage > 0, "no webhook of the known store delivered once the unseen store's events were queued");
                Assert.True(load.Acknowledged.Count > acknowledgedBefore, "ingestion acknowledged nothing while Postgres was down");
                Assert.Empty(unseen.Failed);
                await faults.StartAgainAsync("beacondb");
                var unseenAcknowledged = unseen.Acknowledged.ToList();
                var deadline = DateTime.UtcNow + DrainTimeout;
                while (!unseenAcknowledged.All(unseenReceiver.EventIds.ContainsKey)
                       || (await faults.InEventsTableAsync(unseenAcknowledged)).Count < unseenAcknowledged.Count)
                {
                    Assert.True(DateTime.UtcNow < deadline, "the unseen store's events were not delivered after Postgres came back");
                    await Task.Delay(500);
                }
                return $"ingestion answered 201 on cached tokens throughout; {deliveredDuringOutage:N0} webhook events of the known store " +
                       $"delivered during the outage after a store never loaded before had events queued; that store: {unseenAcknowledged.Count:N0} " +
                       "events acknowledged during the outage, all at its receiver and in the events table after it";
            }
        });
        // Ingestion kept answering 201: not one request of the known store failed.
        Assert.Empty(row.NotAcknowledged);
        Assert.Equal(0, row.Lost);
    }

    [Fact]
    public async Task AWebhookReceiverDownGetsEverythingAfterItComesBackAndNothingIsDeadLettered()
    {
        var outage = FaultRow.LongRun ? TimeSpan.FromMinutes(10) : TimeSpan.FromSeconds(30);
        var row = await RunAsync($"webhook receiver down {(outage.TotalMinutes >= 1 ? $"{outage.TotalMinutes:0} min" : $"{outage.TotalSeconds:0} s")} (connections refused)", async (load, receiver) =>
        {
            await receiver.GoDownAsync();
            await Task.Delay(outage);
            await receiver.ComeBackAsync();
            return $"retry schedule {string.Join(", ", FaultSystem.RetrySchedule)} (Worker__RetrySchedule__N, ±{FaultSystem.RetryJitter:P0})";
        }, RetriesFollowTheScheduleAsync);
        Assert.Equal(0, row.Lost);
        await using var connection = new Npgsql.NpgsqlConnection(faults.System.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM dead_letters", connection);
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }

    /// <summary>
    /// Every batch of the store ends delivered, after attempts numbered 1, 2, … with no gap, each retry no earlier
    /// than its delay of <see cref="FaultSystem.RetrySchedule"/> drawn short by the jitter and no later than drawn long
    /// plus <see cref="ScheduleSlack"/> (the scheduler polls every second and shares two cores with the load).
    /// </summary>
    private async Task<string> RetriesFollowTheScheduleAsync(Guid storeId)
    {
        var schedule = FaultSystem.RetrySchedule.Select(d => TimeSpan.Parse(d, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // The attempt log is written every 500 ms; its clock is the worker's, a few microseconds apart from the planner's.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var tolerance = TimeSpan.FromMilliseconds(100);
        var batches = (await faults.AttemptsAsync(storeId)).GroupBy(a => a.BatchId).Select(g => g.ToList()).ToList();
        var retries = 0;
        var soonest = TimeSpan.MaxValue;
        var latest = TimeSpan.MinValue;
        foreach (var attempts in batches)
        {
            Assert.Equal(Beacon.Core.Data.AttemptOutcomes.Delivered, attempts[^1].Outcome);
            foreach (var (previous, next) in attempts.Zip(attempts.Skip(1)))
            {
                Assert.Equal(previous.Number + 1, next.Number);
                Assert.Equal(Beacon.Core.Data.AttemptOutcomes.Retrying, previous.Outcome);
                var delay = schedule[previous.Number - 1];
                var gap = next.At - previous.End;
                var early = gap - delay * (1 - FaultSystem.RetryJitter);
                var late = gap - delay * (1 + FaultSystem.RetryJitter);
                Assert.True(early >= -tolerance, $"batch {next.BatchId}: attempt {next.Number} came {FaultRow.Seconds(gap)} after the previous one, before the schedule's {FaultRow.Seconds(delay)} −{FaultSystem.RetryJitter:P0}");
                Assert.True(late <= ScheduleSlack, $"batch {next.BatchId}: attempt {next.Number} came {FaultRow.Seconds(gap)} after the previous one, later than the schedule's {FaultRow.Seconds(delay)} +{FaultSystem.RetryJitter:P0} + {FaultRow.Seconds(ScheduleSlack)}");
                retries++;
                soonest = early < soonest ? early : soonest;
                latest = late > latest ? late : latest;
            }
        }
        var mostAttempts = batches.Max(b => b.Count);
        // Not vacuous: some batch failed at least twice and followed two steps of the schedule.
        Assert.True(mostAttempts >= 3, $"no batch was attempted more than {mostAttempts} times");
        return $"{batches.Count(b => b.Count > 1):N0} of {batches.Count:N0} batches retried, up to {mostAttempts} attempts, all delivered at the last; " +
               $"each of the {retries:N0} retries {FaultRow.Seconds(soonest)} or more after the earliest time the schedule allows, " +
               $"at most {FaultRow.Seconds(latest.Duration())} {(latest > TimeSpan.Zero ? "after" : "before")} the latest";
    }

    /// <summary>The consumer name (in the group) of the worker process <paramref name="pid"/>: <c>host-pid-random</c>.</summary>
    private static async Task<string> ConsumerOfAsync(FaultSystem faults, int pid)
    {
        using var redis = await faults.ConnectRedisAsync();
        var consumers = await redis.GetDatabase().StreamConsumerInfoAsync(QueueKeys.Stream(0), QueueKeys.ConsumerGroup);
        return consumers.Select(c => c.Name.ToString()).SingleOrDefault(name => name.Contains($"-{pid}-", StringComparison.Ordinal))
               ?? $"(pid {pid}, not reading yet)";
    }

    private static async Task<IEnumerable<string>> ConsumersAsync(FaultSystem faults)
    {
        using var redis = await faults.ConnectRedisAsync();
        var consumers = await redis.GetDatabase().StreamConsumerInfoAsync(QueueKeys.Stream(0), QueueKeys.ConsumerGroup);
        return consumers.Select(c => c.Name.ToString());
    }

    /// <summary>Waits until a consumer not in <paramref name="seen"/> is in the group (a new worker process read); adds it.</summary>
    private static async Task<string> NewConsumerAsync(FaultSystem faults, HashSet<string> seen)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            if ((await ConsumersAsync(faults)).FirstOrDefault(c => !seen.Contains(c)) is { } added)
            {
                seen.Add(added);
                return added;
            }
            Assert.True(DateTime.UtcNow < deadline, "the restarted worker did not read within 3 min");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// A killed worker's pending entries from the kill on (times from the kill): when the killed worker last read (or
    /// touched) the youngest of them, so when the last becomes claimable (<see cref="FaultSystem.ClaimMinIdle"/> later);
    /// when another worker's XAUTOCLAIM took the first and the last (exact: the idle time Redis reports under the new
    /// consumer counts from the claim); when this test saw them all taken over (its polling); when the last was acked,
    /// which the worker does once both pipelines delivered it.
    /// </summary>
    private sealed record Reclaim(string Consumer, string Survivor, int Entries, TimeSpan LastRead, TimeSpan? FirstClaimed, TimeSpan? LastClaimed,
        IReadOnlyCollection<string> ClaimedBy, TimeSpan? SeenClaimed, TimeSpan? Acked)
    {
        public TimeSpan Claimable => LastRead + FaultSystem.ClaimMinIdle;

        /// <summary>The killed worker's replacement (its consumer) and when it first read.</summary>
        public string? Restarted { get; init; }
        public TimeSpan RestartedReading { get; init; }

        public override string ToString() =>
            $"{Entries:N0} entries pending, the youngest read {FaultRow.Seconds(-LastRead)} before the kill, so claimable at {Seconds(Claimable)}, " +
            $"XAUTOCLAIM took them at {Seconds(FirstClaimed)}…{Seconds(LastClaimed)} by {Claimers()}, seen by the test at {Seconds(SeenClaimed)}, " +
            $"all acked (delivered) at {Seconds(Acked)}; the replacement reading at {Seconds(RestartedReading)}";

        private string Claimers() => ClaimedBy.Count == 0
            ? "nobody"
            : string.Join(" and ", ClaimedBy.Select(c => c == Survivor ? "the surviving worker" : c == Restarted ? "the replacement" : c));

        private static string Seconds(TimeSpan? t) => t is { } value ? "+" + FaultRow.Seconds(value) : "never";
    }

    /// <summary>Follows <paramref name="consumer"/>'s pending entries, polling XPENDING every 100 ms from right after the kill.</summary>
    private static async Task<Reclaim> ReclaimAsync(FaultSystem faults, string consumer, string survivor)
    {
        var clock = Stopwatch.StartNew();
        using var redis = await faults.ConnectRedisAsync();
        var db = redis.GetDatabase();
        var stream = QueueKeys.Stream(0);
        // In id order, so the range to follow is from the first to the last.
        var held = await db.StreamPendingMessagesAsync(stream, QueueKeys.ConsumerGroup, 1_000_000, consumer);
        var lastRead = clock.Elapsed - TimeSpan.FromMilliseconds(held.Length == 0 ? 0 : held.Min(e => e.IdleTimeInMilliseconds));
        var claimed = new Dictionary<RedisValue, TimeSpan>();
        var gone = new Dictionary<RedisValue, TimeSpan>();
        var claimers = new HashSet<string>();
        TimeSpan? seenClaimed = held.Length == 0 ? clock.Elapsed : null;
        while (gone.Count < held.Length && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(100);
            StreamPendingMessageInfo[] pending;
            try
            {
                pending = await db.StreamPendingMessagesAsync(stream, QueueKeys.ConsumerGroup, 1_000_000, RedisValue.Null,
                    held[0].MessageId, held[^1].MessageId);
            }
            catch (RedisException)
            {
                continue;
            }
            var now = clock.Elapsed;
            var byId = pending.ToDictionary(e => e.MessageId);
            foreach (var entry in held)
            {
                if (!byId.TryGetValue(entry.MessageId, out var current))
                {
                    gone.TryAdd(entry.MessageId, now);
                }
                else if (current.ConsumerName != consumer && !claimed.ContainsKey(entry.MessageId))
                {
                    claimed[entry.MessageId] = now - TimeSpan.FromMilliseconds(current.IdleTimeInMilliseconds);
                    claimers.Add(current.ConsumerName.ToString());
                }
            }
            if (seenClaimed is null && held.All(e => claimed.ContainsKey(e.MessageId) || gone.ContainsKey(e.MessageId)))
            {
                seenClaimed = now;
            }
        }
        return new Reclaim(consumer, survivor, held.Length, lastRead,
            claimed.Count == 0 ? null : claimed.Values.Min(), claimed.Count == 0 ? null : claimed.Values.Max(), claimers,
            seenClaimed, gone.Count == held.Length ? (gone.Count == 0 ? TimeSpan.Zero : gone.Values.Max()) : null);
    }

    /// <summary>
    /// Load on a store of its own, then the fault, then load again until ingestion acknowledges, then waits until
    /// every acknowledged event is at the receiver and in the events table (or the drain timeout), then runs
    /// <paramref name="afterDrain"/> (given the store; what it returns goes into the notes), writes the row.
    /// </summary>
    private Task<FaultRow> RunAsync(string fault, Func<FaultLoad, WebhookReceiver, Task<string>> inject, Func<Guid, Task<string>>? afterDrain = null) =>
        RunAsync(faults, fault, inject, afterDrain);

    /// <summary>The same on another system (a scenario that needs a system of its own, <see cref="DiskFullFaultTests"/>).</summary>
    internal static Task<FaultRow> RunAsync(FaultSystem faults, string fault, Func<FaultLoad, WebhookReceiver, Task<string>> inject, Func<Guid, Task<string>>? afterDrain = null) =>
        RunAsync(faults, fault, (load, receiver, _) => inject(load, receiver), afterDrain);

    /// <summary>
    /// The same with the store given to <paramref name="inject"/> (to find where its events are queued), and the load's
    /// <paramref name="senders"/> and <paramref name="pause"/> between one sender's requests (<see cref="FaultLoad.Start"/>).
    /// </summary>
    internal static async Task<FaultRow> RunAsync(FaultSystem faults, string fault, Func<FaultLoad, WebhookReceiver, Guid, Task<string>> inject,
        Func<Guid, Task<string>>? afterDrain = null, int senders = 4, TimeSpan? pause = null)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var prefix = new string(fault.Where(char.IsLetter).Take(12).ToArray()).ToLowerInvariant();
        var (storeId, token) = await faults.CreateStoreAsync("faults " + prefix + " " + Guid.NewGuid().ToString("N")[..6], receiver.Url);
        await using var load = FaultLoad.Start(faults.IngestionUrl, token, prefix, senders, pause);
        Assert.NotNull(await load.WaitForAcknowledgementAsync(TimeSpan.FromMinutes(2)));
        await Task.Delay(TimeSpan.FromSeconds(3));

        var notes = await inject(load, receiver, storeId);
        var recovery = await load.WaitForAcknowledgementAsync(TimeSpan.FromMinutes(3));
        await Task.Delay(TimeSpan.FromSeconds(3));
        await load.StopAsync();
        var loadFor = load.Elapsed;

        var drain = Stopwatch.StartNew();
        var acknowledged = load.Acknowledged.ToHashSet();
        var atWebhook = 0;
        // Only the ids not found yet are looked up again: a 10-minute scenario acknowledges ~300,000.
        var notInTable = acknowledged.ToHashSet();
        while (true)
        {
            atWebhook = acknowledged.Count(receiver.EventIds.ContainsKey);
            notInTable.ExceptWith(await faults.InEventsTableAsync(notInTable));
            if ((atWebhook == acknowledged.Count && notInTable.Count == 0) || drain.Elapsed > DrainTimeout)
            {
                break;
            }
            await Task.Delay(1000);
        }
        var drained = drain.Elapsed;
        // The row is written whatever the check finds, then the check fails the test.
        Xunit.Sdk.XunitException? checkFailed = null;
        if (afterDrain is not null && atWebhook == acknowledged.Count)
        {
            try
            {
                notes += "; " + await afterDrain(storeId);
            }
            catch (Xunit.Sdk.XunitException ex)
            {
                checkFailed = ex;
                notes += "; FAILED: " + ex.Message;
            }
        }

        // A failed request's events are stored whole or not at all (one stream entry per request).
        var failedIds = load.Failed.SelectMany(f => f.Ids).ToList();
        var failedStored = await faults.InEventsTableAsync(failedIds);
        var halfStored = load.Failed.Count(f => f.Ids.Count(failedStored.Contains) is var n && n != 0 && n != f.Ids.Length);
        var row = new FaultRow(fault, load.Requests, loadFor, acknowledged.Count, atWebhook, acknowledged.Count - notInTable.Count,
            load.Failed.GroupBy(f => f.Outcome).ToDictionary(g => g.Key, g => g.Count()),
            load.AcknowledgedDuringFault, recovery, drained,
            $"{notes}; failed requests stored anyway (whole): {load.Failed.Count(f => f.Ids.All(failedStored.Contains))}, half-stored: {halfStored}");
        row.Write();
        if (checkFailed is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(checkFailed);
        }
        Assert.Equal(0, halfStored);
        return row;
    }
}
