using System.Net.Sockets;
using System.Text;
using Beacon.TestHost;

namespace Beacon.Ingestion.Tests;

/// <summary>
/// DESIGN §3: once a request's body has arrived, its events are ingested even if the client is gone before the
/// answer (a sendBeacon at tab close), and stored once.
/// </summary>
public sealed class AbortedRequestTests : IAsyncLifetime
{
    private IsolatedIngestionServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = IsolatedIngestionServer.Start(await Backends.StartIsolatedAsync());
        await _server.WaitUntilHealthyAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("/beacon", "X-Storefront-Access-Token", "event_id", "event_type", "page_view", "\"timestamp\":\"2026-01-15T14:30:00Z\",\"session_id\":\"s-1\"")]
    [InlineData("/api/v1/events", "x-api-key", "eventId", "eventType", "home-page-view", "\"visitorId\":\"v-1\"")]
    public async Task EventsOfAClientThatClosedRightAfterSendingTheWholeBodyAreStoredOnce(
        string path, string tokenHeader, string idField, string typeField, string type, string required)
    {
        var store = await _server.Backends.CreateStoreAsync();
        string[] ids = [$"aborted-{Guid.NewGuid():N}", $"aborted-{Guid.NewGuid():N}"];
        var body = "{\"events\":[" + string.Join(",", ids.Select(id => $"{{\"{idField}\":\"{id}\",\"{typeField}\":\"{type}\",{required}}}")) + "]}";
        var request = Encoding.UTF8.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {_server.Address.Authority}\r\nContent-Type: text/plain\r\n{tokenHeader}: {store.Token}\r\n" +
            $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");
        var finsBefore = _server.Logs.Count("received FIN");

        // The request waits in authentication (a never-seen token is looked up) while the client closes and Kestrel sees it.
        await using (var tokens = await TokenTableLock.TakeAsync(_server.Backends.PostgresConnectionString))
        {
            using (var client = new TcpClient())
            {
                await client.ConnectAsync(_server.Address.Host, _server.Address.Port);
                await client.GetStream().WriteAsync(request);
            }
            await tokens.WaitForLookupAsync();
            await _server.Logs.WaitForAsync("received FIN", finsBefore);
        }

        var queued = await QueuedEventIdsAsync(store.StoreId, ids.Length);
        Assert.Equal(ids, queued);
    }

    // Polls the stream until the store has at least `expected` events (or 30 s passed): no fixed wait.
    private async Task<List<string>> QueuedEventIdsAsync(Guid storeId, int expected)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_server.Backends.RedisConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var events = await IngestionHost.QueuedEventsAsync(redis, storeId);
            if (events.Count >= expected || DateTime.UtcNow > deadline)
            {
                return events.Select(e => e.Event.EventId).ToList();
            }
            await Task.Delay(20);
        }
    }
}
