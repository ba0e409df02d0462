using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Beacon.Core.Messaging;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

/// <summary>
/// Private networks are granted per store by an operator. This app runs with Delivery:AllowPrivateDestinations
/// (the receivers listen on loopback), so a store without a list of its own may reach any private address and a
/// store with a list only what it names.
/// </summary>
[Collection(AdminCollection.Name)]
public sealed class PrivateNetworkTests(AdminApp app)
{
    [Fact]
    public async Task OnlyOperatorsSetTheNetworksAStoreMayReach()
    {
        var (store, merchant, merchantClient) = await app.MerchantWithStoreAsync();
        var merchantApi = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var operatorApi = app.ApiClient(AdminApp.BootstrapApiKey);
        var path = $"/api/admin/v1/stores/{store.StoreId}/allowed-private-networks";

        Assert.Equal(HttpStatusCode.Forbidden, (await merchantApi.PutAsJsonAsync(path, new { networks = new[] { "10.0.0.0/8" } })).StatusCode);
        var page = await merchantClient.PostFormAsync($"/stores/{store.StoreId}?handler=Networks", new() { ["Networks"] = "10.0.0.0/8" });
        Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
        Assert.DoesNotContain("Save networks", await merchantClient.GetStringAsync($"/stores/{store.StoreId}"));
        Assert.Null(await app.Data.WithDbAsync(db => db.Stores.Where(s => s.Id == store.StoreId).Select(s => s.AllowedPrivateNetworks).SingleAsync()));

        var invalid = await operatorApi.PutAsJsonAsync(path, new { networks = new[] { "10.0.0.1/8", "not a network" } });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);

        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);
        var set = await operatorApi.PutAsJsonAsync(path, new { networks = new[] { "10.20.0.0/16", "127.0.0.1" } });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var dto = await set.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["10.20.0.0/16", "127.0.0.1/32"], dto.GetProperty("allowedPrivateNetworks").EnumerateArray().Select(e => e.GetString()));
        // The worker reloads the store's pipelines (and with them the grants) on this message.
        await channel.WaitForAsync(new ConfigChange.Store(store.StoreId), TimeSpan.FromSeconds(5));
        Assert.Contains("10.20.0.0/16, 127.0.0.1/32", await merchantClient.GetStringAsync($"/stores/{store.StoreId}"));

        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        var reset = await operatorClient.PostFormAsync($"/stores/{store.StoreId}?handler=Networks", new() { ["UseDefault"] = "true" });
        Assert.Equal(HttpStatusCode.Redirect, reset.StatusCode);
        Assert.Null(await app.Data.WithDbAsync(db => db.Stores.Where(s => s.Id == store.StoreId).Select(s => s.AllowedPrivateNetworks).SingleAsync()));
    }

    [Fact]
    public async Task AStoreWithItsOwnNetworksReachesOnlyThoseWhenCreatingAndTestingPipelines()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var merchantApi = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var operatorApi = app.ApiClient(AdminApp.BootstrapApiKey);
        var networks = $"/api/admin/v1/stores/{store.StoreId}/allowed-private-networks";
        Assert.Equal(HttpStatusCode.OK, (await operatorApi.PutAsJsonAsync(networks, new { networks = new[] { "10.9.0.0/16" } })).StatusCode);

        var created = await merchantApi.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "loopback", kind = "webhook", url = receiver.Url, eventTypes = Array.Empty<string>(), enabled = true });
        Assert.Equal(HttpStatusCode.BadRequest, created.StatusCode);
        Assert.Contains("not a public address", await created.Content.ReadAsStringAsync());

        // A pipeline that points there anyway (made before the grant changed) is refused when tested, over a real socket.
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);
        var test = await (await merchantApi.PostAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}/test", null))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(test.GetProperty("succeeded").GetBoolean());
        Assert.Equal("Refused", test.GetProperty("outcome").GetString());
        // Nothing was sent, so there is no answer to show: a refused destination can never be read through the test.
        Assert.Equal(JsonValueKind.Null, test.GetProperty("response").ValueKind);
        Assert.DoesNotContain("test receiver", test.GetRawText());
        Assert.Empty(receiver.Requests);

        Assert.Equal(HttpStatusCode.OK, (await operatorApi.PutAsJsonAsync(networks, new { networks = new[] { "127.0.0.1" } })).StatusCode);
        var page = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Test", new());
        Assert.Contains("Test event: delivered", await page.Content.ReadAsStringAsync());
        Assert.Single(receiver.Requests);
    }
}
