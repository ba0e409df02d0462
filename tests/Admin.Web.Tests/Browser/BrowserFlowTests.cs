using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Beacon.Core.Data;
using Beacon.Core.Delivery;
using Beacon.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Beacon.Admin.Tests.Browser;

/// <summary>
/// The site in Debian's Chromium through Playwright, on a real socket: an operator signs in, creates a store,
/// a token and a webhook pipeline, ticks its hashed identifiers, sends a test event to a local receiver, replays a
/// dead letter, deletes a device's data, and every main page is saved as a screenshot at desktop and phone width
/// (under the test output's <c>screenshots/</c>).
/// </summary>
public sealed class BrowserFlowTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>, IAsyncLifetime
{
    private static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    public static readonly string ScreenshotDirectory = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private ServiceFactory<Program> _factory = null!;
    private WebhookReceiver _receiver = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    private string _baseUrl = null!;
    private readonly List<string> _cspViolations = [];

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        _receiver = await WebhookReceiver.StartAsync();
        var port = FreePort.Next();
        _baseUrl = $"http://localhost:{port}";
        // A plain-HTTP socket: Chromium is on http://localhost, so cookies may not be Secure-only here.
        var settings = AdminApp.Settings;
        settings["Admin:AllowHttp"] = "true";
        // Replaces the 5090 endpoint of appsettings.json, so the test never collides with a running AppHost.
        settings["Kestrel:Endpoints:http:Url"] = _baseUrl;
        _factory = new ServiceFactory<Program>(fixture.Backends, settings);
        _factory.UseKestrel();
        _factory.StartServer();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Args = ChromiumArgs });
        Directory.CreateDirectory(ScreenshotDirectory);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _factory.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    [Fact]
    public async Task AnOperatorSetsUpAStoreSendsATestEventAndReplaysADeadLetterInChromium()
    {
        var page = await NewPageAsync(1280, 900);

        // Sign in.
        await page.GotoAsync($"{_baseUrl}/stores");
        Assert.Contains("/account/login", page.Url);
        await ShotAsync(page, "login");
        await page.FillAsync("#Email", AdminApp.OperatorEmail);
        await page.FillAsync("#Password", AdminApp.OperatorPassword);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(new Regex("/stores$"));

        // A store of its own.
        await page.ClickAsync("text=New store");
        var storeName = $"Browser store {Guid.NewGuid():N}"[..24];
        await page.FillAsync("#Name", storeName);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(new Regex("/stores/[0-9a-f-]{36}$"));
        var storeId = Guid.Parse(page.Url.Split('/')[^1]);
        await ShotAsync(page, "store");

        // A token: shown once, in full.
        await page.ClickAsync("nav.storenav >> text=Tokens");
        await page.ClickAsync("text=New token");
        await page.FillAsync("#Input_Name", "Web storefront");
        await page.FillAsync("#Input_AllowedOrigins", "https://shop.example.com");
        await page.FillAsync("#Input_RateLimitPerMinute", "600");
        await page.ClickAsync("button[type=submit]");
        var token = (await page.TextContentAsync(".secret-value"))!.Trim();
        Assert.StartsWith("bk_live_", token);
        await ShotAsync(page, "token-created");
        await page.ClickAsync("text=Back to tokens");
        var tokensHtml = await page.ContentAsync();
        Assert.Contains(token[..12], tokensHtml);
        Assert.DoesNotContain(token, tokensHtml);
        await ShotAsync(page, "tokens");

        // A webhook pipeline to the local receiver, filtered to page views.
        await page.ClickAsync("nav.storenav >> text=Pipelines");
        await page.ClickAsync("text=New pipeline");
        await page.FillAsync("#Input_Name", "Receiver");
        await page.CheckAsync("input[name='Input.Kind'][value=webhook]");
        await page.FillAsync("#Input_Url", _receiver.Url);
        await page.CheckAsync("input[name='Input.EventTypes'][value=page_view]");
        await ShotAsync(page, "pipeline-new");
        await page.ClickAsync("button[type=submit]");
        var secret = (await page.TextContentAsync(".secret-value"))!.Trim();
        Assert.StartsWith("whsec_", secret);
        await page.ClickAsync("text=Open the pipeline");
        await page.WaitForURLAsync(new Regex("/pipelines/[0-9a-f-]{36}/edit$"));
        var pipelineId = Guid.Parse(page.Url.Split('/')[^2]);
        Assert.DoesNotContain(secret, await page.ContentAsync());
        Assert.Equal("enabled", (await page.TextContentAsync(".pagehead .badge"))!.Trim());

        // Hashed identifiers: two boxes ticked and saved, shown ticked again and returned by the management API.
        await page.CheckAsync("input[name='Input.HashFields'][value=device_id]");
        await page.CheckAsync("input[name='Input.HashFields'][value=user_id]");
        await page.ClickAsync("form:has(input[name='Input.HashFields']) button:has-text('Save')");
        await page.WaitForSelectorAsync("text=Saved.");
        await page.ReloadAsync();
        foreach (var field in new[] { "device_id", "user_id" })
        {
            Assert.True(await page.IsCheckedAsync($"input[name='Input.HashFields'][value={field}]"), $"{field} ticked after saving");
        }
        Assert.False(await page.IsCheckedAsync("input[name='Input.HashFields'][value=session_id]"));
        using (var api = new HttpClient { BaseAddress = new Uri(_baseUrl) })
        {
            api.DefaultRequestHeaders.Authorization = new("Bearer", AdminApp.BootstrapApiKey);
            var read = await api.GetFromJsonAsync<JsonElement>($"/api/admin/v1/stores/{storeId}/pipelines/{pipelineId}");
            Assert.Equal(["device_id", "user_id"], read.GetProperty("hashFields").EnumerateArray().Select(f => f.GetString()));
        }
        await ShotAsync(page, "pipeline-hashed-identifiers");

        // Send a test event and see the destination's status.
        await page.ClickAsync("text=Send test event");
        await page.WaitForSelectorAsync("#test-result");
        var resultText = await page.TextContentAsync("#test-result");
        Assert.True((await page.TextContentAsync("#test-result h2"))!.Trim() == "Test event: delivered", resultText);
        Assert.Equal("200", (await page.TextContentAsync("#test-result .status"))!.Trim());
        Assert.DoesNotContain("test receiver", resultText);
        Assert.Null(await page.QuerySelectorAsync("#test-result .excerpt"));
        var received = Assert.Single(_receiver.Requests);
        Assert.Equal(WebhookSigner.Sign(secret, received.Headers["webhook-id"], long.Parse(received.Headers["webhook-timestamp"]), received.Body),
            received.Headers["webhook-signature"]);
        await ShotAsync(page, "pipeline-test-event");

        await page.ClickAsync("nav.storenav >> text=Pipelines");
        await ShotAsync(page, "pipelines");

        // A dead letter (as the worker writes it) appears and is replayed.
        var app = new AdminData(_factory.Services);
        var pipeline = await app.PipelineAsync(pipelineId);
        var deadLetter = await app.CreateDeadLetterAsync(pipeline);
        // A second one stays: its box is ticked, but the first row's own button replays only that row.
        var other = await app.CreateDeadLetterAsync(pipeline, "page_view");
        await page.GotoAsync($"{_baseUrl}/stores/{storeId}/pipelines/{pipelineId}/dead-letters");
        Assert.Contains(deadLetter.EventId, await page.ContentAsync());
        await ShotAsync(page, "dead-letters");
        await page.CheckAsync($"tr:has-text('{other.EventId}') >> input[type=checkbox]");
        await page.ClickAsync($"tr:has-text('{deadLetter.EventId}') >> button:has-text('Replay')");
        await page.WaitForSelectorAsync("text=Replayed 1 dead letter.");
        Assert.DoesNotContain(deadLetter.EventId, await page.ContentAsync());
        await using (var scope = _factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
            Assert.False(await db.DeadLetters.AnyAsync(d => d.Id == deadLetter.Id));
            Assert.True(await db.DeadLetters.AnyAsync(d => d.Id == other.Id));
            Assert.Equal(1, await db.RetryBatches.Where(r => r.PipelineId == pipelineId).SumAsync(r => r.EventCount));
        }

        // Deliveries: the chart draws what delivery_stats holds.
        await app.AddStatsAsync(pipelineId, delivered: 42, failed: 3);
        await page.GotoAsync($"{_baseUrl}/stores/{storeId}/deliveries");
        await page.WaitForSelectorAsync($"canvas.chart[data-pipeline='{pipelineId}'][data-drawn]");
        Assert.Equal("42/3", await page.GetAttributeAsync($"canvas.chart[data-pipeline='{pipelineId}']", "data-drawn"));
        await ShotAsync(page, "deliveries");

        // Live events refresh without a reload.
        await page.GotoAsync($"{_baseUrl}/stores/{storeId}/events");
        var eventId = await app.AddStoredEventAsync(storeId, pipelineId);
        await page.WaitForSelectorAsync($"#live-events td:has-text('{eventId}')", new() { Timeout = 60_000 });
        await ShotAsync(page, "live-events");

        await page.GotoAsync($"{_baseUrl}/event-types");
        await ShotAsync(page, "event-types", fullPage: false);

        // Data controls: a device's deletion with suppression is asked for on its page and completes in the background:
        // the device's row leaves the events table, the other device's stays, and the webhook pipeline is told.
        var doomed = await app.AddStoredEventAsync(storeId, pipelineId, deviceId: "dev-browser");
        var kept = await app.AddStoredEventAsync(storeId, pipelineId, deviceId: "dev-other");
        await page.GotoAsync($"{_baseUrl}/stores/{storeId}/deletions");
        await page.FillAsync("#Value", "dev-browser");
        await page.CheckAsync("#Suppress");
        await page.ClickAsync("#request-deletion button[type=submit]");
        await page.WaitForSelectorAsync("#deletions td:has-text('device_id = dev-browser')");
        for (var i = 0; i < 30 && await page.QuerySelectorAsync("#deletions .status:has-text('completed')") is null; i++)
        {
            await Task.Delay(500);
            await page.ReloadAsync();
        }
        Assert.Equal("completed", (await page.TextContentAsync("#deletions .status"))!.Trim());
        Assert.Contains("events: 1", await page.TextContentAsync("#deletions tbody tr"));
        Assert.NotNull(await page.QuerySelectorAsync("#deletions button:has-text('Lift')"));
        await using (var scope = _factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
            Assert.Equal([kept], await db.Events.Where(e => e.StoreId == storeId && (e.EventId == doomed || e.EventId == kept)).Select(e => e.EventId).ToListAsync());
        }
        Assert.Contains(_receiver.Requests, r => System.Text.Encoding.UTF8.GetString(r.Body).Contains("\"type\":\"privacy.deletion\""));
        await ShotAsync(page, "deletions");

        // Operators see every account.
        await page.GotoAsync($"{_baseUrl}/users");
        Assert.NotNull(await page.QuerySelectorAsync($"#users tr[data-email='{AdminApp.OperatorEmail}']"));
        await ShotAsync(page, "users");

        // Phone width: the same pages, without sideways scrolling of the page itself.
        var phone = await NewPageAsync(390, 844, context: page.Context);
        foreach (var (name, path) in new[]
                 {
                     ("stores", "/stores"), ("tokens", $"/stores/{storeId}/tokens"), ("pipeline-edit", $"/stores/{storeId}/pipelines/{pipelineId}/edit"),
                     ("deliveries", $"/stores/{storeId}/deliveries"), ("dead-letters", $"/stores/{storeId}/pipelines/{pipelineId}/dead-letters"),
                     ("live-events", $"/stores/{storeId}/events"), ("dropped", $"/stores/{storeId}/events/dropped"), ("event-types", "/event-types"),
                     ("deletions", $"/stores/{storeId}/deletions"), ("users", "/users"),
                 })
        {
            await phone.GotoAsync(_baseUrl + path);
            var overflow = await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth > window.innerWidth + 1");
            Assert.False(overflow, $"{path} scrolls sideways on a phone");
            await ShotAsync(phone, $"phone-{name}", fullPage: false);
        }

        // A pipeline is deleted from its page (the confirm dialog is accepted) and is gone from the list.
        await page.GotoAsync($"{_baseUrl}/stores/{storeId}/pipelines/{pipelineId}/edit");
        await page.ClickAsync("button:has-text('Delete pipeline')");
        await page.WaitForURLAsync(new Regex($"/stores/{storeId}/pipelines$"));
        Assert.DoesNotContain(pipelineId.ToString(), await page.ContentAsync());

        Assert.True(_cspViolations.Count == 0, string.Join("\n", _cspViolations));
    }

    private async Task<IPage> NewPageAsync(int width, int height, IBrowserContext? context = null)
    {
        IPage page;
        if (context is null)
        {
            context = await _browser.NewContextAsync(new() { ViewportSize = new() { Width = width, Height = height } });
            // Each step waits for what the page must show; on a loaded machine a first render of a Debug build (JIT,
            // password hashing at sign-in) took longer than Playwright's default 30 s, so the wait is longer, not looser.
            context.SetDefaultTimeout(120_000);
            context.SetDefaultNavigationTimeout(120_000);
            page = await context.NewPageAsync();
        }
        else
        {
            page = await context.NewPageAsync();
            await page.SetViewportSizeAsync(width, height);
        }
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                _cspViolations.Add($"{page.Url}: {message.Text}");
            }
        };
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        return page;
    }

    private static Task ShotAsync(IPage page, string name, bool fullPage = true) =>
        // Caret "initial": hiding it makes Playwright inject a style element, which the CSP (rightly) reports.
        page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotDirectory, $"{name}.png"), FullPage = fullPage, Caret = ScreenshotCaret.Initial });
}
