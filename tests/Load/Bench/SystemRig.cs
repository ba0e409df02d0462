using System.Diagnostics;
using System.Text;
using Beacon.Core.Queue;
using Npgsql;
using StackExchange.Redis;

namespace Beacon.Bench;

/// <summary>
/// A started system with the bench's store (the events table and the webhook pipelines), its connections and its
/// process meter: what a load run end to end needs, so a run can measure a second system started with other settings.
/// </summary>
internal sealed class SystemRig : IAsyncDisposable
{
    private readonly WebhookReceiver _receiver;
    private readonly TimeSpan _drainLimit;
    private bool _disposed;

    private SystemRig(BeaconSystem system, Guid storeId, string token, ConnectionMultiplexer redis, NpgsqlDataSource postgres,
        WebhookReceiver receiver, TimeSpan drainLimit)
    {
        System = system;
        StoreId = storeId;
        Token = token;
        Redis = redis;
        Postgres = postgres;
        Meter = new ProcessMeter(system.Processes);
        _receiver = receiver;
        _drainLimit = drainLimit;
    }

    public BeaconSystem System { get; }

    public Guid StoreId { get; }

    public string Token { get; }

    public ConnectionMultiplexer Redis { get; }

    public NpgsqlDataSource Postgres { get; }

    public ProcessMeter Meter { get; }

    /// <param name="settings">Extra AppHost arguments, e.g. <c>--Worker:ArchiveRetention 00:00:00</c>.</param>
    public static async Task<SystemRig> StartAsync(string root, string workDirectory, IReadOnlyList<string> settings,
        WebhookReceiver receiver, TimeSpan drainLimit, CancellationToken cancellationToken)
    {
        var system = await BeaconSystem.StartAsync(root, workDirectory, settings, TimeSpan.FromSeconds(300), cancellationToken);
        try
        {
            var (storeId, token) = await system.CreateBenchStoreAsync(receiver.Url, cancellationToken);
            var redis = await system.ConnectRedisAsync();
            return new SystemRig(system, storeId, token, redis, system.OpenPostgres(), receiver, drainLimit);
        }
        catch
        {
            await system.DisposeAsync();
            throw;
        }
    }

    public async Task<long> TableRowsAsync(CancellationToken cancellationToken)
    {
        await using var count = Postgres.CreateCommand("SELECT count(*) FROM events WHERE store_id = $1");
        count.Parameters.Add(new NpgsqlParameter { Value = StoreId });
        return (long)(await count.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// One batch through both pipelines before anything is measured (the worker sees the new pipelines, every path is
    /// warm); the entry it leaves in the stream gives the queue's bytes per event.
    /// </summary>
    public async Task<int> ProbeAsync(int batch, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        var before = await TableRowsAsync(cancellationToken);
        var hookBefore = _receiver.DistinctEvents;
        var run = Guid.NewGuid().ToString("N")[..12];
        var body = "{\"events\":[" + string.Join(',', Enumerable.Range(0, batch).Select(i =>
            $$"""{"event_id":"{{run}}-probe-{{i}}","event_type":"product_view","timestamp":"2026-11-25T12:00:00Z","session_id":"s1","device_id":"d1","product_id":"{{8000000000 + i}}","shopping_channel":"app"}""")) + "]}";
        using var request = new HttpRequestMessage(HttpMethod.Post, System.IngestionUrl + "/beacon") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Storefront-Access-Token", Token);
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /beacon answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        var entry = (await Redis.GetDatabase().StreamRangeAsync(QueueKeys.Stream(0), "-", "+", count: 1, messageOrder: Order.Descending)).Single();
        var events = QueueEntries.Count(entry.Values);
        if (events != batch)
        {
            throw new InvalidOperationException($"A {batch}-event request became a stream entry of {events} events: the counts below assume one entry per request.");
        }
        var bytes = entry.Values.Sum(v => ((byte[])v.Value!).Length) / events;
        var deadline = DateTime.UtcNow + _drainLimit;
        while (await TableRowsAsync(cancellationToken) - before < batch || _receiver.DistinctEvents - hookBefore < batch)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The probe batch did not reach both pipelines within {_drainLimit.TotalSeconds:0} s " +
                                                    $"(table {await TableRowsAsync(cancellationToken) - before}, webhook {_receiver.DistinctEvents - hookBefore}).");
            }
            await Task.Delay(100, cancellationToken);
        }
        return bytes;
    }

    /// <summary>How long until the worker's consumer group had nothing left; null past the drain limit.</summary>
    public async Task<TimeSpan?> WaitDrainedAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (await BeaconSystem.LagAsync(Redis) > 0)
        {
            if (watch.Elapsed > _drainLimit)
            {
                return null;
            }
            await Task.Delay(20, cancellationToken);
        }
        return watch.Elapsed;
    }

    /// <summary>
    /// A load from a drained queue, and what follows it until the worker has drained it again: the CPU of every process
    /// over that whole window per event appended to the stream, and what the pipelines delivered while the load ran.
    /// </summary>
    public async Task<Measured> MeasureAsync(Func<Task<LoadRun>> load, int eventsPerRequest, CancellationToken cancellationToken)
    {
        await WaitDrainedAsync(cancellationToken);
        var (rowsBefore, hookBefore) = (await TableRowsAsync(cancellationToken), _receiver.DistinctEvents);
        var cpuBefore = Meter.Cpu();
        var result = await load();
        var (rowsAtEnd, hookAtEnd) = (await TableRowsAsync(cancellationToken), _receiver.DistinctEvents);
        var drain = await WaitDrainedAsync(cancellationToken);
        var cpu = ProcessMeter.Delta(Meter.Cpu(), cpuBefore);
        // Events, not stream entries (requests that share an append share an entry): every accepted event lands in the
        // events table once, so the rows are the events appended; those not there yet when the load stopped, the lag.
        var appended = await TableRowsAsync(cancellationToken) - rowsBefore;
        var lag = Math.Max(0, (long)Math.Round(result.EventsPerSecond * result.Seconds) - (rowsAtEnd - rowsBefore));
        var duplicates = _receiver.Events - _receiver.DistinctEvents;
        return new Measured(result, eventsPerRequest, appended, cpu, (rowsAtEnd - rowsBefore) / result.Seconds, (hookAtEnd - hookBefore) / result.Seconds,
            lag, drain, duplicates);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await Postgres.DisposeAsync();
        await Redis.DisposeAsync();
        await System.DisposeAsync();
    }
}
