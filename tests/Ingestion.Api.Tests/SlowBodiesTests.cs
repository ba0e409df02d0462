using System.Net;
using System.Net.Sockets;
using System.Text;
using Beacon.TestHost;
using Xunit.Abstractions;

namespace Beacon.Ingestion.Tests;

/// <summary>Measures this process's memory: runs alone, so no other test's allocations count in it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasuredCollection
{
    public const string Name = "memory measured";
}

/// <summary>
/// Thousands of slow clients, each declaring a 1 MiB body and sending a few bytes of it, must not pin memory: the JSON
/// doors' body buffers grow with the bytes that arrive, not with the declared Content-Length.
/// </summary>
[Collection(MemoryMeasuredCollection.Name)]
public sealed class SlowBodiesTests : IClassFixture<BackendsFixture>
{
    private const int Connections = 5000;
    private const int Batch = 250;
    private const long Budget = 200L * 1024 * 1024;

    private readonly Backends _backends;

    private readonly ITestOutputHelper _output;

    public SlowBodiesTests(BackendsFixture fixture, ITestOutputHelper output)
    {
        _backends = fixture.Backends;
        _output = output;
    }

    [Fact]
    public async Task FiveThousandSlowConnectionsDeclaringOneMebibyteRaiseMemoryByLessThan200MB()
    {
        var port = FreePort.Next();
        await using var service = new ServiceFactory<Program>(_backends, new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = $"http://127.0.0.1:{port}",
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
            // The minimum data rate would cut these clients off after its grace period; this test is about what a
            // request holds while it waits for its body, so the clients are given all the time the test takes.
            ["Ingestion:Kestrel:MinRequestBodyGracePeriod"] = "00:02:00",
        });
        service.UseKestrel();
        service.StartServer();
        // Limits of its own, so every request gets as far as reading its body.
        var store = await _backends.CreateStoreAsync(rateLimitPerMinute: int.MaxValue, rateLimitPerIpPerMinute: int.MaxValue);
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            var warm = new HttpRequestMessage(HttpMethod.Post, "/beacon") { Content = IngestionHost.Json(IngestionHost.Batch(IngestionHost.LayersEvent())) };
            warm.Headers.Add("X-Storefront-Access-Token", store.Token);
            Assert.Equal(HttpStatusCode.Created, (await http.SendAsync(warm)).StatusCode);
        }
        var (heapBefore, workingSetBefore) = Measure();

        var request = Encoding.ASCII.GetBytes(
            $"POST /beacon HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Storefront-Access-Token: {store.Token}\r\n" +
            $"Content-Type: text/plain\r\nContent-Length: {1024 * 1024}\r\n\r\n{{\"events\":[");
        var sockets = new List<Socket>(Connections);
        try
        {
            for (var opened = 0; opened < Connections; opened += Batch)
            {
                var batch = await Task.WhenAll(Enumerable.Range(0, Batch).Select(async _ =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await socket.ConnectAsync(IPAddress.Loopback, port);
                    await socket.SendAsync(request);
                    return socket;
                }));
                sockets.AddRange(batch);
            }
            // Every request is now waiting in its body read.
            await Task.Delay(TimeSpan.FromSeconds(2));
            var (heapAfter, workingSetAfter) = Measure();
            _output.WriteLine($"{sockets.Count} slow requests: GC heap +{(heapAfter - heapBefore) >> 20} MB, working set +{(workingSetAfter - workingSetBefore) >> 20} MB");

            Assert.True(heapAfter - heapBefore < Budget, $"GC heap grew by {(heapAfter - heapBefore) >> 20} MB");
            Assert.True(workingSetAfter - workingSetBefore < Budget, $"working set grew by {(workingSetAfter - workingSetBefore) >> 20} MB");
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.True((await http.GetAsync("/health")).IsSuccessStatusCode, "the service stopped answering under the slow requests");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    // What the GC holds (array pools included: their arrays are GC objects) and what the process has resident.
    private static (long Heap, long WorkingSet) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (GC.GetTotalMemory(false), Environment.WorkingSet);
    }
}
