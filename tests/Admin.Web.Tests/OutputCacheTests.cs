using Beacon.Core.Messaging;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

/// <summary>The Redis output cache: per user, and evicted by the store's tag when Admin.Web changes something.</summary>
[Collection(AdminCollection.Name)]
public sealed class OutputCacheTests(AdminApp app)
{
    [Fact]
    public async Task ThePipelinesPageComesFromTheCacheUntilAChangeThroughTheSiteEvictsIt()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, name: "Original name");
        var path = $"/stores/{store.StoreId}/pipelines";
        Assert.Contains("Original name", await client.GetStringAsync(path));

        // A change behind the site's back is not seen: the page is served from the cache...
        await app.Data.WithDbAsync(db => db.Pipelines.Where(p => p.Id == pipeline.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.Name, "Renamed in SQL")));
        Assert.Contains("Original name", await client.GetStringAsync(path));

        // ...and a change through the site evicts the store's pages at once.
        await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Toggle", new());
        var fresh = await client.GetStringAsync(path);
        Assert.Contains("Renamed in SQL", fresh);
        Assert.Contains("disabled", fresh);
    }

    [Fact]
    public async Task AChangeAnnouncedByAnotherServiceEvictsTheStoresPages()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, name: "Healthy pipeline");
        var path = $"/stores/{store.StoreId}/pipelines";
        Assert.Contains("Healthy pipeline", await client.GetStringAsync(path));

        // What the worker does when it disables a pipeline that failed for days: a SQL update and an announcement.
        await app.Data.WithDbAsync(db => db.Pipelines.Where(p => p.Id == pipeline.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.Name, "Disabled by the worker")));
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        await ConfigChanges.PublishAsync(redis, new ConfigChange.Store(store.StoreId));

        var deadline = DateTime.UtcNow.AddSeconds(5);
        string page;
        do
        {
            await Task.Delay(100);
            page = await client.GetStringAsync(path);
        }
        while (!page.Contains("Disabled by the worker") && DateTime.UtcNow < deadline);
        Assert.Contains("Disabled by the worker", page);
    }

    [Fact]
    public async Task ACachedPageIsNeverServedToAnotherUser()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var other = await app.CreateUserAsync();
        await app.AddMemberAsync(store.StoreId, other.Id);
        var otherClient = await app.SignInAsync(other.Email!);
        var path = $"/stores/{store.StoreId}/pipelines";

        Assert.Contains(merchant.Email!, await client.GetStringAsync(path));
        var seenByOther = await otherClient.GetStringAsync(path);
        Assert.Contains(other.Email!, seenByOther);
        Assert.DoesNotContain(merchant.Email!, seenByOther);
    }

    [Fact]
    public async Task TheStoreListShowsANewStoreAtOnce()
    {
        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        await operatorClient.GetStringAsync("/stores");
        var name = $"Fresh store {Guid.NewGuid():N}";
        await operatorClient.PostFormAsync("/stores/new", new() { ["Name"] = name });
        Assert.Contains(name, await operatorClient.GetStringAsync("/stores"));
    }

    [Fact]
    public async Task CachedPagesLiveInRedisSoEveryInstanceSharesThem()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        await client.GetStringAsync($"/stores/{store.StoreId}/pipelines");

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        var server = redis.GetServers().Single();
        var keys = server.Keys(pattern: "beacon:admin:pages:*").Select(k => k.ToString()).ToList();
        Assert.Contains(keys, k => k.Contains($"store:{store.StoreId}", StringComparison.Ordinal));
    }
}
