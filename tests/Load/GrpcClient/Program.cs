using System.Globalization;
using Beacon.Protos.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;

namespace Beacon.GrpcClient;

/// <summary>
/// The reference client for app developers, and the gRPC load generator.
/// <code>
/// demo   --url http://localhost:5081 --token TOKEN [--events 2000] [--drop-every-ms 250]
/// stream --url http://localhost:5081 --token TOKEN [--streams 8] [--window 16] [--batch 100] [--connections 2] [--seconds 20] [--warmup 5]
/// send   --url http://localhost:5081 --token TOKEN [--concurrency 64] [--batch 100] [--connections 2] [--seconds 20] [--warmup 5]
/// </code>
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("demo" or "stream" or "send"))
        {
            Console.Error.WriteLine("usage: demo|stream|send --url <h2c or https url> --token <store token> [options] (see Program.cs)");
            return 2;
        }
        var options = Options.Parse(args.AsSpan(1));
        var url = new Uri(options.Text("url", "http://localhost:5081"));
        var token = options.Text("token", Environment.GetEnvironmentVariable("BEACON_TOKEN") ?? "");
        switch (args[0])
        {
            case "demo":
                return await DemoAsync(url, token, options.Number("events", 2000), options.Number("drop-every-ms", 250));
            case "stream":
                Print(await LoadGenerator.StreamAsync(url, token, options.Number("connections", 2), options.Number("streams", 8),
                    options.Number("window", 16), options.Number("batch", 100), options.Seconds("warmup", 5), options.Seconds("seconds", 20)));
                return 0;
            default:
                Print(await LoadGenerator.SendAsync(url, token, options.Number("connections", 2), options.Number("concurrency", 64),
                    options.Number("batch", 100), options.Seconds("warmup", 5), options.Seconds("seconds", 20)));
                return 0;
        }
    }

    /// <summary>
    /// What an app does: put events in its buffer, keep a stream running, and let acks empty the buffer. The
    /// network is dropped every few hundred milliseconds to show that the counts still add up exactly.
    /// </summary>
    private static async Task<int> DemoAsync(Uri url, string token, int count, int dropEveryMs)
    {
        var network = new FlakyNetworkHandler();
        using var channel = GrpcChannel.ForAddress(url, new GrpcChannelOptions { HttpHandler = network });
        var buffer = new OfflineEventBuffer();
        var sender = new EventStreamSender(new EventIngest.EventIngestClient(channel), token, buffer, new SenderOptions
        {
            BatchSize = 50,
            FirstRetryDelay = TimeSpan.FromMilliseconds(100),
            UserAgent = "BeaconSample/1.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
            RequestedWith = "com.tapcart.sample",
        })
        { Log = Console.Out };

        for (var i = 0; i < count; i++)
        {
            buffer.Add(new Event
            {
                EventType = i % 10 == 0 ? "add_to_cart" : "product_view",
                Timestamp = Timestamp.FromDateTime(DateTime.UtcNow),
                SessionId = "demo-session",
                ProductId = (8_000_000_000 + i).ToString(CultureInfo.InvariantCulture),
            });
        }

        using var stop = new CancellationTokenSource();
        var sending = sender.RunAsync(stop.Token);
        var emptied = buffer.WaitUntilEmptyAsync(CancellationToken.None);
        while (await Task.WhenAny(emptied, sending, Task.Delay(dropEveryMs)) is var done && done != emptied && done != sending)
        {
            network.DropConnections();
        }
        await stop.CancelAsync();
        await sending;

        // Every event is acked exactly once (by the ack of its last send). "Duplicates" were stored by a send whose
        // ack was lost with the connection; the server recognised their ids on the resend and kept one copy.
        var stats = sender.Statistics;
        Console.WriteLine($"{count} events: {stats.Stored} stored on first ack, {stats.Duplicates} stored earlier (ack lost, resent, " +
                          $"deduplicated), {stats.Rejected} rejected; {network.Drops} dropped connections, {stats.Reconnects} reconnects.");
        var exact = stats.Stored + stats.Duplicates + stats.Rejected == count && buffer.Count == 0;
        Console.WriteLine(exact ? "OK: every event acked exactly once." : "MISMATCH: some events were not acked.");
        return exact ? 0 : 1;
    }

    private static void Print(LoadResult result) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{result.Mode}: {result.EventsPerSecond:N0} events/s, {result.CallsPerSecond:N0} acks/s, {result.Errors} errors, over {result.Elapsed.TotalSeconds:0.0} s"));

    private sealed class Options(Dictionary<string, string> values)
    {
        public static Options Parse(ReadOnlySpan<string> args)
        {
            var values = new Dictionary<string, string>();
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                values[args[i].TrimStart('-')] = args[i + 1];
            }
            return new Options(values);
        }

        public string Text(string name, string fallback) => values.GetValueOrDefault(name, fallback);

        public int Number(string name, int fallback) =>
            values.TryGetValue(name, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

        public TimeSpan Seconds(string name, int fallback) => TimeSpan.FromSeconds(Number(name, fallback));
    }
}
