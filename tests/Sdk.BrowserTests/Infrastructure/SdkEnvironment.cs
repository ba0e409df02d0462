using System.Text.Json;
using Beacon.TestHost;
using Microsoft.Playwright;
using StackExchange.Redis;

namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>Every browser test class shares one Chromium, one Ingestion.Api and one storefront, one test at a time.</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<SdkEnvironment>
{
    public const string Name = "Browser";
}

public sealed class SdkEnvironment : IAsyncLifetime
{
    private IConnectionMultiplexer _redis = null!;

    public Backends Backends { get; private set; } = null!;
    public IngestionServer Ingestion { get; private set; } = null!;
    public StorefrontServer Storefront { get; private set; } = null!;
    public Chromium Chromium { get; private set; } = null!;
    public EventStream Stream { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Backends = await Backends.GetAsync();
        Ingestion = IngestionServer.Start(Backends);
        Storefront = await StorefrontServer.StartAsync();
        Chromium = await Chromium.LaunchAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(Backends.RedisConnectionString);
        Stream = new EventStream(_redis);
    }

    /// <summary>
    /// Opens a storefront page (in a fresh browser profile) that loads <c>/sdk/beacon.js</c> from Ingestion.Api
    /// and calls <c>Beacon.init</c> with these options. The flush interval defaults to a minute so that only what
    /// a test does (flush, 20 events, leaving the page) sends anything.
    /// </summary>
    public async Task<StorefrontPage> OpenStorefrontAsync(string token, string endpoint, object? options = null, string? beforeSdk = null)
    {
        var init = new Dictionary<string, object?> { ["token"] = token, ["endpoint"] = endpoint, ["flushInterval"] = 60_000 };
        if (options is not null)
        {
            foreach (var property in options.GetType().GetProperties())
            {
                init[property.Name] = property.GetValue(options);
            }
        }
        var html = $$"""
            <!doctype html>
            <html>
            <head>
              <meta charset="utf-8">
              <title>Test storefront</title>
              <script>{{beforeSdk}}</script>
              <script src="{{Ingestion.SdkUrl}}"></script>
            </head>
            <body>
              <h1>Test storefront</h1>
              <script>Beacon.init({{JsonSerializer.Serialize(init)}});</script>
            </body>
            </html>
            """;
        var page = await Chromium.NewPageAsync();
        var url = Storefront.AddPage(html);
        await page.GotoAsync(url);
        return new StorefrontPage(page, Storefront);
    }

    public async Task DisposeAsync()
    {
        await Chromium.DisposeAsync();
        await Storefront.DisposeAsync();
        await Ingestion.DisposeAsync();
        await _redis.DisposeAsync();
    }
}

/// <summary>A storefront page with the SDK loaded, driven the way storefront code would call it.</summary>
public sealed class StorefrontPage(IPage page, StorefrontServer storefront)
{
    public IPage Page { get; } = page;

    /// <summary><c>Beacon.track(type, fields)</c>; returns the event id the SDK assigned.</summary>
    public Task<string> TrackAsync(string eventType, object? fields = null) =>
        Page.EvaluateAsync<string>("([type, fields]) => Beacon.track(type, fields)", new[] { eventType, fields });

    /// <summary>Tracks <paramref name="count"/> events in one script turn, as a busy page would.</summary>
    public async Task<IReadOnlyList<string>> TrackManyAsync(int count, string eventType, object? fields = null) =>
        await Page.EvaluateAsync<string[]>(
            "([count, type, fields]) => Array.from({ length: count }, () => Beacon.track(type, fields))",
            new[] { count, eventType, fields });

    /// <summary><c>await Beacon.flush()</c>: whether the endpoint accepted every queued event, as the page sees it.</summary>
    public Task<bool> FlushAsync() => Page.EvaluateAsync<bool>("() => Beacon.flush()");

    /// <summary>Follows a link to another page of the store: the SDK sees pagehide.</summary>
    public async Task NavigateAwayAsync() => await Page.GotoAsync(storefront.NextPageUrl);

    public Task<string?> SessionStorageAsync(string key) =>
        Page.EvaluateAsync<string?>("key => sessionStorage.getItem(key)", key);
}
