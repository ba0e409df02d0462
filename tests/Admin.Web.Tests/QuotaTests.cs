using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed class QuotaTests(AdminApp app)
{
    private const int MaxPipelines = 20;
    private const int MaxTokens = 50;

    [Fact]
    public async Task AStoreCannotHaveMoreThanTwentyPipelinesThroughTheApiOrThePages()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        for (var i = 0; i < MaxPipelines; i++)
        {
            await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres);
        }

        var refused = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "One too many", kind = "postgres", eventTypes = Array.Empty<string>(), enabled = true });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("already has 20 pipelines", problem.GetProperty("detail").GetString());

        var page = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/new", new()
        {
            ["Input.Name"] = "One too many", ["Input.Kind"] = PipelineKinds.Postgres, ["Input.Enabled"] = "true",
        });
        Assert.Equal(HttpStatusCode.Conflict, page.StatusCode);
        Assert.Contains("already has 20 pipelines", await page.Content.ReadAsStringAsync());

        Assert.Equal(MaxPipelines, await app.Data.WithDbAsync(db => db.Pipelines.CountAsync(p => p.StoreId == store.StoreId)));
    }

    [Fact]
    public async Task ParallelCreatesCannotTakeTheLastPlaceTwice()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        for (var i = 0; i < MaxPipelines - 1; i++)
        {
            await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres);
        }

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = $"racer {i}", kind = "postgres", eventTypes = Array.Empty<string>(), enabled = true })));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        Assert.Equal(MaxPipelines, await app.Data.WithDbAsync(db => db.Pipelines.CountAsync(p => p.StoreId == store.StoreId)));
    }

    [Fact]
    public async Task AStoreCannotHaveMoreThanFiftyActiveTokensButRevokedOnesDoNotCount()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        // The store's fixture token is one of the fifty.
        var tokenIds = await app.Data.WithDbAsync(async db =>
        {
            for (var i = 1; i < MaxTokens; i++)
            {
                var token = TokenHasher.NewToken("bk_live_");
                db.AccessTokens.Add(new AccessToken
                {
                    StoreId = store.StoreId, Name = $"t{i}", TokenHash = TokenHasher.Hash(token), DisplayPrefix = TokenHasher.DisplayPrefix(token),
                });
            }
            await db.SaveChangesAsync();
            return await db.AccessTokens.Where(t => t.StoreId == store.StoreId).Select(t => t.Id).ToListAsync();
        });
        Assert.Equal(MaxTokens, tokenIds.Count);

        var refused = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/tokens", new { name = "one too many" });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("already has 50 active tokens", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        var page = await client.PostFormAsync($"/stores/{store.StoreId}/tokens/new", new() { ["Input.Name"] = "one too many" });
        Assert.Equal(HttpStatusCode.Conflict, page.StatusCode);
        Assert.Contains("already has 50 active tokens", await page.Content.ReadAsStringAsync());

        // Replacing a leaked token stays possible: revoke it, then create the new one.
        Assert.Equal(HttpStatusCode.NoContent, (await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/tokens/{tokenIds[0]}/revoke", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/tokens", new { name = "replacement" })).StatusCode);
    }
}
