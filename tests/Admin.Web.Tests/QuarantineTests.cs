using System.Net;
using Beacon.Core.Data;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Beacon.Admin.Tests;

/// <summary>
/// The quarantine pages: operators see every entry the worker could not read, merchants only those of their stores;
/// replay appends an entry's raw fields to its stream again, discard deletes it.
/// </summary>
[Collection(AdminCollection.Name)]
public sealed class QuarantineTests(AdminApp app)
{
    [Fact]
    public async Task AMerchantSeesOnlyTheQuarantinedEntriesOfItsStoresAndOperatorsSeeThemAll()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var other = await app.Backends.CreateStoreAsync();
        var own = await app.Data.CreateQuarantinedEntryAsync(store.StoreId, "own: too many levels of nesting");
        var foreign = await app.Data.CreateQuarantinedEntryAsync(other.StoreId, "foreign entry");
        var storeless = await app.Data.CreateQuarantinedEntryAsync(null, "no store can be told");

        var html = await client.GetStringAsync($"/stores/{store.StoreId}/quarantine");
        Assert.Contains("own: too many levels of nesting", html);
        Assert.Contains(own.Stream, html);
        Assert.Contains("0aff0102", html); // the raw bytes, as hex
        Assert.DoesNotContain(foreign.Stream, html);
        Assert.DoesNotContain(storeless.Stream, html);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"/stores/{other.StoreId}/quarantine")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/quarantine")).StatusCode);
        // An entry of another store is not found through the merchant's own store either.
        Assert.Equal(HttpStatusCode.NotFound,
            (await client.GetAsync($"/stores/{store.StoreId}/quarantine?handler=Raw&id={foreign.Id}&field=0")).StatusCode);
        var raw = await client.GetAsync($"/stores/{store.StoreId}/quarantine?handler=Raw&id={own.Id}&field=1");
        Assert.Equal("kept as sent"u8.ToArray(), await raw.Content.ReadAsByteArrayAsync());

        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        var all = await operatorClient.GetStringAsync("/quarantine");
        Assert.Contains(own.Stream, all);
        Assert.Contains(foreign.Stream, all);
        Assert.Contains(storeless.Stream, all);
    }

    [Fact]
    public async Task ReplayAppendsTheRawFieldsToTheStreamAgainAndDiscardDeletesTheEntry()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var replayed = await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var discarded = await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var foreign = await app.Data.CreateQuarantinedEntryAsync((await app.Backends.CreateStoreAsync()).StoreId);
        var path = $"/stores/{store.StoreId}/quarantine";

        var replay = await client.PostFormAsync($"{path}?handler=ReplayOne", [new("id", replayed.Id.ToString())], path);
        Assert.Equal(HttpStatusCode.Redirect, replay.StatusCode);
        Assert.Contains("Replayed 1 entry.", await client.GetStringAsync(path));
        await client.PostFormAsync($"{path}?handler=DiscardSelected", [new("ids", discarded.Id.ToString()), new("ids", foreign.Id.ToString())], path);
        Assert.Contains("Discarded 1 entry.", await client.GetStringAsync(path));

        await using var redis = await ConnectionMultiplexer.ConnectAsync(app.Backends.RedisConnectionString);
        var appended = Assert.Single(await redis.GetDatabase().StreamRangeAsync(replayed.Stream));
        Assert.Equal(replayed.FieldNames, appended.Values.Select(f => f.Name.ToString()));
        Assert.Equal(replayed.FieldValues, appended.Values.Select(f => (byte[])f.Value!));
        Assert.Empty(await redis.GetDatabase().StreamRangeAsync(discarded.Stream));
        var left = await app.Data.WithDbAsync(db => db.Quarantine.Where(q => q.Id == replayed.Id || q.Id == discarded.Id || q.Id == foreign.Id)
            .Select(q => q.Id).ToListAsync());
        // The other store's entry, named in the same form, is untouched.
        Assert.Equal([foreign.Id], left);
    }
}
