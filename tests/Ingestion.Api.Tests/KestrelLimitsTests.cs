using System.Net;
using System.Net.Sockets;
using System.Text;
using Beacon.TestHost;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Beacon.Ingestion.Tests;

/// <summary>Kestrel's connection, header and body-rate limits come from <c>Ingestion:Kestrel</c> (and HTTP/2's from <c>Grpc</c>).</summary>
public sealed class KestrelLimitsTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task TheLimitsAreThoseOfTheConfiguration()
    {
        await using var service = new ServiceFactory<Program>(fixture.Backends, new Dictionary<string, string?>
        {
            ["Ingestion:Kestrel:MaxConcurrentConnections"] = "1234",
            ["Ingestion:Kestrel:KeepAliveTimeout"] = "00:00:07",
            ["Grpc:MaxFrameSize"] = "32768",
        });

        var limits = service.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        Assert.Equal(1234, limits.MaxConcurrentConnections);
        Assert.Equal(0, limits.MaxConcurrentUpgradedConnections);
        Assert.Equal(TimeSpan.FromSeconds(7), limits.KeepAliveTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), limits.RequestHeadersTimeout);
        Assert.Equal(64, limits.MaxRequestHeaderCount);
        Assert.Equal(240, limits.MinRequestBodyDataRate!.BytesPerSecond);
        Assert.Equal(32768, limits.Http2.MaxFrameSize);
        Assert.Equal(4096, limits.Http2.HeaderTableSize);
    }

    [Fact]
    public async Task ARequestWithMoreThan64HeadersIsRefusedWith431BeforeItReachesADoor()
    {
        var port = FreePort.Next();
        await using var service = new ServiceFactory<Program>(fixture.Backends, new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:http:Url"] = $"http://127.0.0.1:{port}",
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{FreePort.Next()}",
        });
        service.UseKestrel();
        service.StartServer();

        var headers = string.Concat(Enumerable.Range(0, 70).Select(i => $"X-Filler-{i}: {i}\r\n"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /beacon HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: 0\r\n\r\n"));
        var answer = new byte[256];
        var read = await socket.ReceiveAsync(answer);

        Assert.StartsWith("HTTP/1.1 431", Encoding.ASCII.GetString(answer, 0, read));
    }
}
