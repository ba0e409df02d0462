using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.RegularExpressions;
using Beacon.Admin.Pages;
using Beacon.Core.Data;
using Beacon.Core.Drops;
using Beacon.TestHost;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Beacon.Admin.Tests;

/// <summary>
/// A merchant of store A against every store-scoped page, page handler and API route of store B. The routes
/// are enumerated from the running app's endpoints and page models, not listed by hand, so a new page or
/// route is covered without touching this test.
/// </summary>
[Collection(AdminCollection.Name)]
public sealed partial class AuthorizationMatrixTests(AdminApp app)
{
    private sealed record Target(string Kind, string Method, string Template, string? Handler);

    [Fact]
    public async Task AMerchantOfStoreAIsRefusedEveryPageHandlerAndApiRouteOfStoreB()
    {
        var scenario = await TwoStoresAsync();
        var targets = EnumerateStoreRoutes();
        Assert.Contains(targets, t => t.Kind == "page" && t.Method == "POST");
        Assert.Contains(targets, t => t.Kind == "api" && t.Method == "POST");

        var apiKey = await app.CreateApiKeyAsync(scenario.Merchant.Id);
        var api = app.ApiClient(apiKey);
        var failures = new List<string>();
        foreach (var target in targets)
        {
            var url = Fill(target, scenario.B);
            var response = await SendAsync(target, url, scenario.Client, api);
            if (response.StatusCode is not (HttpStatusCode.Forbidden or HttpStatusCode.NotFound))
            {
                failures.Add($"{target.Method} {url} -> {(int)response.StatusCode}");
            }
        }
        Assert.True(failures.Count == 0, "Store B was reachable:\n" + string.Join("\n", failures));

        // And nothing of store B changed behind the refusals.
        await using var scope = app.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var token = await db.AccessTokens.SingleAsync(t => t.Id == scenario.B.TokenId);
        Assert.False(token.Revoked);
        var pipeline = await db.Pipelines.SingleAsync(p => p.Id == scenario.B.PipelineId);
        Assert.Equal(scenario.B.PipelineSecret, pipeline.Secret);
        Assert.True(pipeline.Enabled);
        Assert.True(await db.DeadLetters.AnyAsync(d => d.Id == scenario.B.DeadLetterId));
        Assert.True(await db.Quarantine.AnyAsync(q => q.Id == scenario.B.QuarantinedId));
        Assert.True(await db.StoreMembers.AnyAsync(m => m.StoreId == scenario.B.StoreId && m.UserId == scenario.B.MemberId));
        Assert.Equal(1, await db.Pipelines.CountAsync(p => p.StoreId == scenario.B.StoreId));
        Assert.Equal(1, await db.AccessTokens.CountAsync(t => t.StoreId == scenario.B.StoreId));
        Assert.True(await db.DataDeletions.AnyAsync(d => d.Id == scenario.B.DeletionId && d.LiftedAt == null));
        Assert.Equal(1, await db.DataDeletions.CountAsync(d => d.StoreId == scenario.B.StoreId));
    }

    [Fact]
    public async Task TheSameRoutesOfTheMerchantsOwnStoreAnswer()
    {
        // The control for the test above: with store A's ids the same GET routes work, so the refusals
        // are about the store and not about badly filled URLs.
        var scenario = await TwoStoresAsync();
        var apiKey = await app.CreateApiKeyAsync(scenario.Merchant.Id);
        var api = app.ApiClient(apiKey);
        var failures = new List<string>();
        foreach (var target in EnumerateStoreRoutes().Where(t => t.Method == "GET" && !IsOperatorOnly(t)))
        {
            var url = Fill(target, scenario.A);
            var response = await SendAsync(target, url, scenario.Client, api);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.Add($"{target.Method} {url} -> {(int)response.StatusCode}");
            }
        }
        Assert.True(failures.Count == 0, "Own store refused:\n" + string.Join("\n", failures));
    }

    [Fact]
    public async Task StoreListsShowOnlyTheMerchantsStores()
    {
        var scenario = await TwoStoresAsync();
        var html = await scenario.Client.GetStringAsync("/stores");
        Assert.Contains(scenario.A.StoreId.ToString(), html);
        Assert.DoesNotContain(scenario.B.StoreId.ToString(), html);

        var api = app.ApiClient(await app.CreateApiKeyAsync(scenario.Merchant.Id));
        var stores = await api.GetFromJsonAsync<List<StoreJson>>("/api/admin/v1/stores");
        Assert.Equal([scenario.A.StoreId], stores!.Select(s => s.Id));
    }

    [Fact]
    public async Task MerchantsCannotCreateStoresOrManageMembers()
    {
        var scenario = await TwoStoresAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await scenario.Client.GetAsync("/stores/new")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await scenario.Client.PostFormAsync("/stores/new", new() { ["Name"] = "mine" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await scenario.Client.GetAsync($"/stores/{scenario.A.StoreId}/members")).StatusCode);

        var api = app.ApiClient(await app.CreateApiKeyAsync(scenario.Merchant.Id));
        var response = await api.PostAsJsonAsync("/api/admin/v1/stores", new { name = "mine" });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task SignedOutVisitorsAreSentToSignInAndApiCallsWithoutAKeyGet401()
    {
        var store = await app.Backends.CreateStoreAsync();
        var anonymous = app.Anonymous();
        var page = await anonymous.GetAsync($"/stores/{store.StoreId}/tokens");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/account/login", page.Headers.Location!.PathAndQuery);

        var api = await anonymous.GetAsync("/api/admin/v1/stores");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);

        var wrongKey = await app.ApiClient("bk_admin_not-a-key").GetAsync("/api/admin/v1/stores");
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);

        // A session cookie is not an API credential: the API only takes keys.
        var merchant = await app.CreateUserAsync();
        var signedIn = await app.SignInAsync(merchant.Email!);
        Assert.Equal(HttpStatusCode.Unauthorized, (await signedIn.GetAsync("/api/admin/v1/stores")).StatusCode);
    }

    private sealed record StoreJson(Guid Id, string Name);

    private sealed record StoreIds(Guid StoreId, Guid TokenId, Guid PipelineId, string PipelineSecret, long DeadLetterId, string MemberId, long QuarantinedId,
        Guid ReplayId, string DroppedEventId, Guid DeletionId);

    private sealed record Scenario(BeaconUser Merchant, HttpClient Client, StoreIds A, StoreIds B);

    private async Task<Scenario> TwoStoresAsync()
    {
        var (storeA, merchant, client) = await app.MerchantWithStoreAsync();
        var storeB = await app.Backends.CreateStoreAsync();
        var merchantB = await app.CreateUserAsync();
        await app.AddMemberAsync(storeB.StoreId, merchantB.Id);
        return new Scenario(merchant, client, await FillStoreAsync(storeA, merchant.Id), await FillStoreAsync(storeB, merchantB.Id));
    }

    private async Task<StoreIds> FillStoreAsync(Beacon.TestHost.TestStore store, string memberId)
    {
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        var deadLetter = await app.CreateDeadLetterAsync(pipeline);
        var quarantined = await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var deletion = await app.WithDbAsync(async db =>
        {
            var row = new DataDeletion
            {
                StoreId = store.StoreId, IdentifierField = DeletionIdentifiers.DeviceId, IdentifierValue = "dev-matrix", Suppress = true,
                RequestedBy = memberId, Status = DeletionStatuses.Completed,
            };
            db.DataDeletions.Add(row);
            await db.SaveChangesAsync();
            return row;
        });
        var replay = await app.WithDbAsync(async db =>
        {
            var queued = new Replay { StoreId = store.StoreId, PipelineId = pipeline.Id, From = DateTimeOffset.UtcNow.AddHours(-1), To = DateTimeOffset.UtcNow };
            db.Replays.Add(queued);
            await db.SaveChangesAsync();
            return queued;
        });
        // A dropped event as ingestion's drop log records it, so the store's trace route has an event to show.
        var droppedEventId = "dropped-" + Guid.NewGuid().ToString("N");
        await using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString))
        {
            await redis.GetDatabase().HashSetAsync(DropLogKeys.ByEventId(store.StoreId, DateOnly.FromDateTime(DateTime.UtcNow)), droppedEventId,
                $$"""{"at":"2026-01-15T10:00:00.0000000+00:00","source":"beacon","index":0,"event_type":"product_view","code":"missing_field","reason":"missing required field 'product_id'","event_id":"{{droppedEventId}}"}""");
        }
        return new StoreIds(store.StoreId, store.TokenId, pipeline.Id, pipeline.Secret, deadLetter.Id, memberId, quarantined.Id, replay.Id, droppedEventId,
            deletion.Id);
    }

    /// <summary>Every GET/POST of every page and API endpoint whose route has a <c>{storeId}</c>.</summary>
    private List<Target> EnumerateStoreRoutes()
    {
        var endpoints = app.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.Parameters.Any(p => p.Name == "storeId"))
            .ToList();
        var targets = new List<Target>();
        foreach (var endpoint in endpoints)
        {
            var template = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            if (endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Mvc.RazorPages.PageActionDescriptor>() is { } page)
            {
                var model = PageModelOf(page.ViewEnginePath);
                foreach (var method in model.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
                {
                    if (HandlerName().Match(method.Name) is { Success: true } m)
                    {
                        var handler = m.Groups[2].Value;
                        targets.Add(new Target("page", m.Groups[1].Value.ToUpperInvariant(), template, handler.Length == 0 ? null : handler));
                    }
                }
            }
            else
            {
                foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [])
                {
                    targets.Add(new Target("api", method, template, null));
                }
            }
        }
        Assert.True(targets.Count(t => t.Kind == "page") >= 15, $"Only {targets.Count(t => t.Kind == "page")} page handlers found");
        Assert.True(targets.Count(t => t.Kind == "api") >= 14, $"Only {targets.Count(t => t.Kind == "api")} API routes found");
        return targets;
    }

    private static Type PageModelOf(string viewEnginePath)
    {
        // "/Pipelines/Edit" -> Beacon.Admin.Pages.Pipelines.EditModel
        var parts = viewEnginePath.Trim('/').Split('/');
        var name = $"Beacon.Admin.Pages.{string.Join('.', parts[..^1])}.{parts[^1]}Model";
        var type = typeof(StorePageModel).Assembly.GetType(name);
        Assert.True(type is not null && typeof(PageModel).IsAssignableFrom(type), $"No page model {name}");
        return type!;
    }

    private static bool IsOperatorOnly(Target target) => target.Template.EndsWith("/members", StringComparison.Ordinal);

    private static string Fill(Target target, StoreIds ids)
    {
        var path = target.Template
            .Replace("{storeId:guid}", ids.StoreId.ToString())
            .Replace("{pipelineId:guid}", ids.PipelineId.ToString())
            .Replace("{tokenId:guid}", ids.TokenId.ToString())
            .Replace("{entryId:long}", ids.QuarantinedId.ToString())
            .Replace("{replayId:guid}", ids.ReplayId.ToString())
            .Replace("{eventId}", ids.DroppedEventId)
            .Replace("{deletionId:guid}", ids.DeletionId.ToString());
        Assert.DoesNotContain("{", path);
        if (target.Kind == "api")
        {
            return path;
        }
        // Handler arguments come from the query: every one a handler of these pages takes, with store B's values.
        var query = $"tokenId={ids.TokenId}&userId={Uri.EscapeDataString(ids.MemberId)}&ids={ids.DeadLetterId}" +
            $"&rangeFrom=2000-01-01T00:00&rangeTo=2100-01-01T00:00&id={ids.QuarantinedId}&field=0&eventIds={ids.DroppedEventId}&deletionId={ids.DeletionId}";
        return target.Handler is null ? $"{path}?{query}" : $"{path}?handler={target.Handler}&{query}";
    }

    private static async Task<HttpResponseMessage> SendAsync(Target target, string url, HttpClient pages, HttpClient api)
    {
        if (target.Kind == "api")
        {
            using var request = new HttpRequestMessage(new HttpMethod(target.Method), url);
            if (target.Method is "POST" or "PUT")
            {
                request.Content = JsonContent.Create(new
                {
                    name = "x", kind = "webhook", url = "https://example.com/hook", eventTypes = Array.Empty<string>(), enabled = false,
                    ids = new[] { 1L }, from = "2000-01-01T00:00:00Z", to = "2100-01-01T00:00:00Z",
                });
            }
            return await api.SendAsync(request);
        }
        if (target.Method == "GET")
        {
            return await pages.GetAsync(url);
        }
        // A valid antiforgery token of the merchant's own session, so a refusal is the store check, not antiforgery.
        return await pages.PostFormAsync(url, new Dictionary<string, string>
        {
            ["Input.Name"] = "taken over",
            ["Input.Kind"] = "webhook",
            ["Input.Url"] = "https://evil.example/hook",
            ["Input.Enabled"] = "false",
            ["Email"] = "intruder@evil.test",
        });
    }

    [GeneratedRegex("^On(Get|Post)(\\w*?)(Async)?$")]
    private static partial Regex HandlerName();
}
