using System.Text;
using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Beacon.TestHost;
using Google.Protobuf.WellKnownTypes;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>JSON and gRPC are two doors to one ingestion path: the same events come out as the same envelopes.</summary>
public sealed class OneIngestionPathTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private const string UserAgent =
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36";

    [Fact]
    public async Task TheSameEventsSentOverJsonAndGrpcBecomeIdenticalEnvelopesApartFromSourceAndArrival()
    {
        var store = await fixture.Backends.CreateStoreAsync();
        using var http = fixture.Server.CreateJsonClient();
        using var body = new HttpRequestMessage(HttpMethod.Post, "/beacon")
        {
            Content = new StringContent("""
                {"events":[
                  {"event_id":"json-1","event_type":"product_click","timestamp":"2026-11-25T12:00:00.250Z","session_id":"s-1",
                   "device_id":"d-1","product_id":8123456789,"variant_id":"v-2","position":3,"marketing_source":"google",
                   "contextual_data":{"page":"home","depth":2,"tags":["a","b"],"ab":{"on":true}}},
                  {"event_id":"json-2","event_type":"purchase","timestamp":"2026-11-25T12:01:00Z","session_id":"s-1",
                   "customer_id":"c-9","revenue":19.99,"currency":"USD","shopping_channel":"web"}
                ]}
                """, Encoding.UTF8, "application/json"),
        };
        body.Headers.Add("X-Storefront-Access-Token", store.Token);
        body.Headers.Add("User-Agent", UserAgent);
        body.Headers.Add("X-Requested-With", "com.fuego.shop");
        var posted = await http.SendAsync(body);
        Assert.Equal(201, (int)posted.StatusCode);

        var click = new Event
        {
            EventId = "grpc-1", EventType = "product_click",
            Timestamp = Timestamp.FromDateTime(new DateTime(2026, 11, 25, 12, 0, 0, 250, DateTimeKind.Utc)),
            SessionId = "s-1", DeviceId = "d-1", ProductId = "8123456789", VariantId = "v-2", Position = 3, MarketingSource = "google",
            ContextualData = new Struct
            {
                Fields =
                {
                    ["page"] = Value.ForString("home"),
                    ["depth"] = Value.ForNumber(2),
                    ["tags"] = Value.ForList(Value.ForString("a"), Value.ForString("b")),
                    ["ab"] = Value.ForStruct(new Struct { Fields = { ["on"] = Value.ForBool(true) } }),
                },
            },
        };
        var purchase = new Event
        {
            EventId = "grpc-2", EventType = "purchase",
            Timestamp = Timestamp.FromDateTime(new DateTime(2026, 11, 25, 12, 1, 0, DateTimeKind.Utc)),
            SessionId = "s-1", CustomerId = "c-9", Revenue = "19.99", Currency = "USD", ShoppingChannel = "web",
        };
        var headers = GrpcIngestionServer.TokenMetadata(store.Token);
        headers.Add("user-agent", UserAgent);
        headers.Add("x-requested-with", "com.fuego.shop");
        await fixture.Server.Client.SendAsync(new SendEventsRequest { Events = { click, purchase } }, headers);

        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.Equal(["json-1", "json-2", "grpc-1", "grpc-2"], queued.Select(e => e.Event.EventId));
        Assert.Equal(["beacon", "beacon", "grpc", "grpc"], queued.Select(e => e.Source));
        var comparable = queued.Select(WithoutSourceArrivalAndId).ToList();
        Assert.Equal(comparable[0], comparable[2]);
        Assert.Equal(comparable[1], comparable[3]);
        // The comparison means something only if enrichment ran on both doors.
        Assert.Equal(("mobile", "app"), (comparable[2].DeviceType, comparable[2].Event.ShoppingChannel));
        Assert.Equal("web", comparable[3].Event.ShoppingChannel);
    }

    private static EnrichedEvent WithoutSourceArrivalAndId(EnrichedEvent envelope)
    {
        var copy = envelope.Clone();
        copy.Source = "";
        copy.ReceivedAt = null;
        copy.Event.EventId = "";
        return copy;
    }
}
