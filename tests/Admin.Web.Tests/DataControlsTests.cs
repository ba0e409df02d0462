using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Beacon.Core.Data;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Beacon.Core.Delivery;
using Beacon.Protos.V1;
using Beacon.Protos.Queue;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

/// <summary>The merchant data controls of DESIGN §9 through the management API and the pages, over real Postgres and Redis.</summary>
[Collection(AdminCollection.Name)]
public sealed class DataControlsTests(AdminApp app)
{
    [Fact]
    public async Task DeletingAPipelineAnswers204AndThen404WithItsDeadLettersGone()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var pipeline = await app.CreatePipelineAsync(store.StoreId);
        await app.CreateDeadLetterAsync(pipeline);
        var path = $"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipeline.Id}";
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);

        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync(path)).StatusCode);
        await channel.WaitForAsync(new ConfigChange.Store(store.StoreId), TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync(path)).StatusCode);
        Assert.False(await app.WithDbAsync(db => db.DeadLetters.AnyAsync(d => d.PipelineId == pipeline.Id)));

        // Another store's pipeline is not found through this store.
        var foreign = await app.CreatePipelineAsync((await app.Backends.CreateStoreAsync()).StoreId);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines/{foreign.Id}")).StatusCode);
        Assert.True(await app.WithDbAsync(db => db.Pipelines.AnyAsync(p => p.Id == foreign.Id)));
    }

    [Fact]
    public async Task DeletingATokenAnnouncesItAndAnswers404Afterwards()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);
        var path = $"/api/admin/v1/stores/{store.StoreId}/tokens/{store.TokenId}";

        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync(path)).StatusCode);
        await channel.WaitForAsync(new ConfigChange.Token(TokenHasher.Hash(store.Token)), TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync(path)).StatusCode);
    }

    [Fact]
    public async Task PipelineBatchSizeAndLingerAreValidatedStoredAndShown()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var root = $"/api/admin/v1/stores/{store.StoreId}/pipelines";

        var created = await api.PostAsJsonAsync(root, new { name = "Hook", kind = "webhook", url = "https://hooks.example.com/x", batchSize = 20, lingerMs = 250 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var read = await api.GetFromJsonAsync<JsonElement>($"{root}/{id}");
        Assert.Equal(20, read.GetProperty("batchSize").GetInt32());
        Assert.Equal(250, read.GetProperty("lingerMs").GetInt32());
        var stored = await app.Data.PipelineAsync(id);
        Assert.Equal("20", stored.Settings[PipelineSettings.BatchSize]);

        var tooBig = await api.PutAsJsonAsync($"{root}/{id}", new { name = "Hook", kind = "webhook", url = "https://hooks.example.com/x", batchSize = 500, lingerMs = -1 });
        Assert.Equal(HttpStatusCode.BadRequest, tooBig.StatusCode);
        var errors = (await tooBig.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateObject().Select(p => p.Name).Order();
        Assert.Equal(["batchSize", "lingerMs"], errors);

        // Left out: back to the worker's defaults.
        var reset = await api.PutAsJsonAsync($"{root}/{id}", new { name = "Hook", kind = "webhook", url = "https://hooks.example.com/x" });
        var after = await reset.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, after.GetProperty("batchSize").ValueKind);
        Assert.DoesNotContain(PipelineSettings.BatchSize, (await app.Data.PipelineAsync(id)).Settings.Keys);
    }

    [Fact]
    public async Task APipelinesRequiredConsentIsSetThroughTheApiAndShownOnItsPage()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var root = $"/api/admin/v1/stores/{store.StoreId}/pipelines";

        var created = await api.PostAsJsonAsync(root, new { name = "Ads", kind = "webhook", url = "https://hooks.example.com/ads", requiredConsent = new[] { "marketing", " marketing " } });
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("id").GetGuid();
        Assert.Equal(["marketing"], (await app.Data.PipelineAsync(id)).RequiredConsent);
        var read = await api.GetFromJsonAsync<JsonElement>($"{root}/{id}");
        Assert.Equal(["marketing"], read.GetProperty("requiredConsent").EnumerateArray().Select(c => c.GetString()));
        Assert.Contains("value=\"marketing\"", await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{id}/edit"));

        var bad = await api.PutAsJsonAsync($"{root}/{id}", new { name = "Ads", kind = "webhook", url = "https://hooks.example.com/ads", requiredConsent = new[] { new string('m', 65) } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("requiredConsent", await bad.Content.ReadAsStringAsync());

        var page = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{id}/edit?handler=Save", new Dictionary<string, string>
        {
            ["Input.Name"] = "Ads", ["Input.Kind"] = "webhook", ["Input.Url"] = "https://hooks.example.com/ads",
            ["Input.RequiredConsent"] = "marketing, personalization", ["Input.Enabled"] = "true",
        }, $"/stores/{store.StoreId}/pipelines/{id}/edit");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal(["marketing", "personalization"], (await app.Data.PipelineAsync(id)).RequiredConsent);
    }

    [Fact]
    public async Task ADeviceDeletionRemovesItsDataFromEveryPlaceOfTheStoreAndKeepsTheRest()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var webhook = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "Downstream", kind = "webhook", url = receiver.Url });
        var createdHook = await webhook.Content.ReadFromJsonAsync<JsonElement>();
        var secret = createdHook.GetProperty("secret").GetString()!;
        var table = await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres);
        var hook = await app.Data.PipelineAsync(createdHook.GetProperty("id").GetGuid());
        var other = await app.Backends.CreateStoreAsync();
        var otherTable = await app.CreatePipelineAsync(other.StoreId, PipelineKinds.Postgres);

        for (var i = 0; i < 3; i++)
        {
            await app.Data.AddStoredEventAsync(store.StoreId, table.Id, deviceId: "dev-A");
        }
        var keptEvent = await app.Data.AddStoredEventAsync(store.StoreId, table.Id, deviceId: "dev-B");
        var otherStoresEvent = await app.Data.AddStoredEventAsync(other.StoreId, otherTable.Id, deviceId: "dev-A");
        await app.Data.CreateDeadLetterAsync(hook, deviceId: "dev-A");
        var keptLetter = await app.Data.CreateDeadLetterAsync(hook, deviceId: "dev-B");
        var keptEnvelope = AdminData.Envelope(store.StoreId, deviceId: "dev-B");
        var mixed = await app.Data.CreateRetryBatchAsync(hook, [AdminData.Envelope(store.StoreId, deviceId: "dev-A"), keptEnvelope]);
        var onlyA = await app.Data.CreateRetryBatchAsync(hook, [AdminData.Envelope(store.StoreId, deviceId: "dev-A")]);
        await app.Data.CreateQuarantinedEntryAsync(store.StoreId, note: "bytes around dev-A and more");
        var keptQuarantine = await app.Data.CreateQuarantinedEntryAsync(store.StoreId, note: "dev-B only");
        // A postgres pipeline hashing device_id wrote the device as its salted hash.
        var salt = await app.WithDbAsync(db => db.Stores.Where(s => s.Id == store.StoreId).Select(s => s.IdentifierSalt).SingleAsync());
        await app.Data.AddStoredEventAsync(store.StoreId, table.Id, deviceId: Beacon.Core.Privacy.IdentifierHasher.Hash(salt, "dev-A"));
        // The archive: a batch of both devices, one of dev-A alone, another store's batch of a device with the same id.
        var (archivedA, archivedB, archivedAlone) = (AdminData.Envelope(store.StoreId, deviceId: "dev-A"), AdminData.Envelope(store.StoreId, deviceId: "dev-B"),
            AdminData.Envelope(store.StoreId, deviceId: "dev-A"));
        var otherArchived = AdminData.Envelope(other.StoreId, deviceId: "dev-A");
        await app.Data.AddArchivedBatchAsync(store.StoreId, [archivedA, archivedB], "beacon:events:0/1-0");
        await app.Data.AddArchivedBatchAsync(store.StoreId, [archivedAlone], "beacon:events:0/1-0");
        await app.Data.AddArchivedBatchAsync(other.StoreId, [otherArchived], "beacon:events:0/2-0");
        await app.Data.AddDeliveryAttemptAsync(store.StoreId, hook.Id, archivedA.Event.EventId, archivedB.Event.EventId);
        await app.Data.AddDeliveryAttemptAsync(store.StoreId, hook.Id, archivedAlone.Event.EventId);
        await app.Data.AddDeliveryAttemptAsync(other.StoreId, otherTable.Id, otherArchived.Event.EventId);

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/deletions", new { device_id = "dev-A", suppress = true });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        Assert.Equal($"/api/admin/v1/stores/{store.StoreId}/deletions/{id}", response.Headers.Location!.OriginalString);

        var status = await WaitForCompletionAsync(api, response.Headers.Location!.OriginalString);
        Assert.Equal("dev-A", status.GetProperty("identifier").GetProperty("device_id").GetString());
        Assert.Equal(merchant.Email, status.GetProperty("requested_by").GetString());
        Assert.True(status.GetProperty("suppression_active").GetBoolean());
        Assert.NotEqual(JsonValueKind.Null, status.GetProperty("completed_at").ValueKind);
        var deleted = status.GetProperty("deleted");
        Assert.Equal(4, deleted.GetProperty("events").GetInt64());
        Assert.Equal(1, deleted.GetProperty("dead_letters").GetInt64());
        Assert.Equal(2, deleted.GetProperty("retry_batch_events").GetInt64());
        Assert.Equal(1, deleted.GetProperty("quarantine").GetInt64());
        Assert.Equal(2, deleted.GetProperty("archive_events").GetInt64());
        Assert.Equal(2, deleted.GetProperty("delivery_attempts").GetInt64());
        Assert.Equal(1, deleted.GetProperty("webhooks_notified").GetInt64());
        Assert.Equal(0, deleted.GetProperty("webhooks_retrying").GetInt64());

        await app.WithDbAsync(async db =>
        {
            Assert.Equal([keptEvent], await db.Events.Where(e => e.StoreId == store.StoreId).Select(e => e.EventId).ToListAsync());
            Assert.True(await db.Events.AnyAsync(e => e.EventId == otherStoresEvent));
            Assert.Equal([keptLetter.Id], await db.DeadLetters.Where(d => d.StoreId == store.StoreId).Select(d => d.Id).ToListAsync());
            var parked = await db.RetryBatches.Where(r => r.StoreId == store.StoreId).ToListAsync();
            var left = Assert.Single(parked);
            Assert.Equal(mixed.Id, left.Id);
            Assert.Equal(1, left.EventCount);
            Assert.Equal(keptEnvelope.Event.EventId, Assert.Single(EnrichedEventBatch.Parser.ParseFrom(left.Payload).Events).Event.EventId);
            Assert.Equal([keptQuarantine.Id], await db.Quarantine.Where(q => q.StoreId == store.StoreId).Select(q => q.Id).ToListAsync());
            return 0;
        });
        Assert.DoesNotContain(onlyA.Id, await app.WithDbAsync(db => db.RetryBatches.Select(r => r.Id).ToListAsync()));
        // The archive keeps dev-B's event (still readable, in the batch format), drops the batch left empty, and the other
        // store keeps its own; the delivery attempts keep only the ids of events that remain.
        var archived = Assert.Single(await app.Data.ArchivedBatchesAsync(store.StoreId));
        Assert.Equal([archivedB.Event.EventId], archived.EventIds);
        Assert.Equal(archivedB, Assert.Single(archived.Events));
        Assert.Equal(EventIdFilter.Of(archived.EventIds), archived.Filter);
        Assert.Equal([otherArchived.Event.EventId], Assert.Single(await app.Data.ArchivedBatchesAsync(other.StoreId)).EventIds);
        Assert.Equal([[archivedB.Event.EventId], []], await app.Data.AttemptEventIdsAsync(store.StoreId));
        // Their Bloom filters are those of the ids left: no trace of dev-A's ids stays in a row.
        Assert.All(await app.Data.AttemptsAsync(store.StoreId), a => Assert.Equal(EventIdFilter.Of(a.EventIds), a.Filter));
        Assert.Equal([[otherArchived.Event.EventId]], await app.Data.AttemptEventIdsAsync(other.StoreId));

        // Downstream was told, signed with the pipeline's secret.
        var notice = Assert.Single(receiver.Requests);
        using var body = JsonDocument.Parse(notice.Body);
        Assert.Equal("privacy.deletion", body.RootElement.GetProperty("type").GetString());
        Assert.Equal(id, body.RootElement.GetProperty("deletion_id").GetGuid());
        Assert.Equal("dev-A", body.RootElement.GetProperty("identifier").GetProperty("device_id").GetString());
        var expected = WebhookSigner.Sign(secret, notice.Headers["webhook-id"], long.Parse(notice.Headers["webhook-timestamp"]), notice.Body);
        Assert.Contains(expected, notice.Headers["webhook-signature"]);

        var list = await api.GetFromJsonAsync<List<JsonElement>>($"/api/admin/v1/stores/{store.StoreId}/deletions");
        Assert.Equal(id, Assert.Single(list!).GetProperty("id").GetGuid());
        var lifted = await (await api.PostAsync($"/api/admin/v1/stores/{store.StoreId}/deletions/{id}/lift", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(lifted.GetProperty("suppression_active").GetBoolean());
        Assert.Equal(merchant.Email, lifted.GetProperty("lifted_by").GetString());
    }

    [Fact]
    public async Task ArchivedEventsOfADeletionNotYetSweptAreNotSentAsTestEvents()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var created = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines", new { name = "Hook", kind = "webhook", url = receiver.Url });
        var pipelineId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var (gone, kept) = (AdminData.Envelope(store.StoreId, deviceId: "dev-A"), AdminData.Envelope(store.StoreId, deviceId: "dev-B"));
        await app.Data.AddArchivedBatchAsync(store.StoreId, [gone, kept], "beacon:events:0/1-0");
        // Requested and running: its sweep has not reached the archive yet.
        await app.WithDbAsync(async db =>
        {
            db.DataDeletions.Add(new DataDeletion
            {
                StoreId = store.StoreId, IdentifierField = DeletionIdentifiers.DeviceId, IdentifierValue = "dev-A", RequestedBy = "test",
                Status = DeletionStatuses.Running, StartedAt = DateTimeOffset.UtcNow,
            });
            return await db.SaveChangesAsync();
        });
        var path = $"/api/admin/v1/stores/{store.StoreId}/pipelines/{pipelineId}/test";

        var byId = await (await api.PostAsJsonAsync(path, new { eventIds = new[] { gone.Event.EventId, kept.Event.EventId } })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal([kept.Event.EventId], byId.GetProperty("request").GetProperty("eventIds").EnumerateArray().Select(e => e.GetString()));
        var recent = await (await api.PostAsJsonAsync(path, new { recent = 5 })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal([kept.Event.EventId], recent.GetProperty("request").GetProperty("eventIds").EnumerateArray().Select(e => e.GetString()));
        Assert.All(receiver.Requests, r => Assert.DoesNotContain(gone.Event.EventId, System.Text.Encoding.UTF8.GetString(r.Body)));
        Assert.Equal(2, receiver.Requests.Count);
    }

    [Fact]
    public async Task ADeletionNoticeThatFailsIsSentAgainUntilTheReceiverTakesItAndAHashingPipelineIsToldTheHash()
    {
        await using var flaky = await WebhookReceiver.StartAsync();
        await using var hashing = await WebhookReceiver.StartAsync();
        flaky.StatusOf = n => n == 1 ? 500 : 200;
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var root = $"/api/admin/v1/stores/{store.StoreId}/pipelines";
        await api.PostAsJsonAsync(root, new { name = "Flaky", kind = "webhook", url = flaky.Url });
        var created = await api.PostAsJsonAsync(root, new { name = "Hashed", kind = "webhook", url = hashing.Url, hashFields = new[] { "device_id" } });
        var hashed = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();

        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/deletions", new { device_id = "dev-N" });
        var status = await WaitForCompletionAsync(api, response.Headers.Location!.OriginalString);
        Assert.Equal(1, status.GetProperty("deleted").GetProperty("webhooks_notified").GetInt64());
        Assert.Equal(1, status.GetProperty("deleted").GetProperty("webhooks_retrying").GetInt64());

        await WaitUntilAsync(() => Task.FromResult(flaky.Requests.Count == 2), TimeSpan.FromSeconds(20), "the notice sent again");
        var (first, second) = (flaky.Requests.First(), flaky.Requests.Last());
        Assert.Equal(first.Headers["webhook-id"], second.Headers["webhook-id"]);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal("dev-N", JsonDocument.Parse(second.Body).RootElement.GetProperty("identifier").GetProperty("device_id").GetString());
        await WaitUntilAsync(async () =>
        {
            var now = await api.GetFromJsonAsync<JsonElement>(response.Headers.Location!.OriginalString);
            return now.GetProperty("deleted").GetProperty("webhooks_notified").GetInt64() == 2
                && now.GetProperty("deleted").GetProperty("webhooks_retrying").GetInt64() == 0;
        }, TimeSpan.FromSeconds(10), "both notices counted as delivered");
        Assert.False(await app.WithDbAsync(db => db.DeletionNotices.AnyAsync(n => n.StoreId == store.StoreId)));

        var salt = await app.WithDbAsync(db => db.Stores.Where(s => s.Id == store.StoreId).Select(s => s.IdentifierSalt).SingleAsync());
        var told = Assert.Single(hashing.Requests);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData([.. salt, .. System.Text.Encoding.UTF8.GetBytes("dev-N")]));
        Assert.Equal(expected, JsonDocument.Parse(told.Body).RootElement.GetProperty("identifier").GetProperty("device_id").GetString());
        Assert.Equal(["device_id"], (await app.Data.PipelineAsync(hashed)).HashFields);
    }

    [Fact]
    public async Task APipelinesHashFieldsAreSetThroughTheApiAndThePageAndTheSaltIsNeverShown()
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var root = $"/api/admin/v1/stores/{store.StoreId}/pipelines";

        var created = await api.PostAsJsonAsync(root, new { name = "Ads", kind = "webhook", url = "https://hooks.example.com/ads", hashFields = new[] { "user_id", "device_id" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var read = await api.GetFromJsonAsync<JsonElement>($"{root}/{id}");
        Assert.Equal(["device_id", "user_id"], read.GetProperty("hashFields").EnumerateArray().Select(f => f.GetString()));
        Assert.Contains("name=\"Input.HashFields\" value=\"device_id\" checked=\"checked\"", await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{id}/edit"));

        var bad = await api.PutAsJsonAsync($"{root}/{id}", new { name = "Ads", kind = "webhook", url = "https://hooks.example.com/ads", hashFields = new[] { "product_id" } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("hashFields", await bad.Content.ReadAsStringAsync());

        var page = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{id}/edit?handler=Save", new Dictionary<string, string>
        {
            ["Input.Name"] = "Ads", ["Input.Kind"] = "webhook", ["Input.Url"] = "https://hooks.example.com/ads",
            ["Input.HashFields"] = "session_id", ["Input.Enabled"] = "true",
        }, $"/stores/{store.StoreId}/pipelines/{id}/edit");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal(["session_id"], (await app.Data.PipelineAsync(id)).HashFields);

        var salt = await app.WithDbAsync(db => db.Stores.Where(s => s.Id == store.StoreId).Select(s => s.IdentifierSalt).SingleAsync());
        Assert.Equal(32, salt.Length);
        var operatorApi = app.ApiClient(AdminApp.BootstrapApiKey);
        var storeJson = await operatorApi.GetStringAsync($"/api/admin/v1/stores/{store.StoreId}");
        Assert.DoesNotContain(Convert.ToBase64String(salt), storeJson);
        Assert.DoesNotContain("salt", storeJson, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("salt", await client.GetStringAsync($"/stores/{store.StoreId}"), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ADeletionNamesExactlyOneIdentifierAndOnlyItsOwnStoreSeesIt()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var root = $"/api/admin/v1/stores/{store.StoreId}/deletions";

        Assert.Equal(HttpStatusCode.BadRequest, (await api.PostAsJsonAsync(root, new { device_id = "a", user_id = "b" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.PostAsJsonAsync(root, new { suppress = true })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.PostAsJsonAsync(root, new { session_id = new string('x', 300) })).StatusCode);

        var accepted = await api.PostAsJsonAsync(root, new { user_id = "u-1" });
        var id = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var other = await app.Backends.CreateStoreAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync($"/api/admin/v1/stores/{other.StoreId}/deletions/{id}")).StatusCode);
        var operatorApi = app.ApiClient(AdminApp.BootstrapApiKey);
        Assert.Equal(HttpStatusCode.NotFound, (await operatorApi.GetAsync($"/api/admin/v1/stores/{other.StoreId}/deletions/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await operatorApi.GetAsync($"{root}/{id}")).StatusCode);
    }

    [Fact]
    public async Task OperatorsDeleteAStoreAndItsEventsInTheBackgroundMerchantsCannot()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var table = await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres);
        await app.Data.AddStoredEventAsync(store.StoreId, table.Id);
        await app.Data.AddStoredEventAsync(store.StoreId, table.Id);
        await app.Data.CreateQuarantinedEntryAsync(store.StoreId);
        var archived = new[] { AdminData.Envelope(store.StoreId), AdminData.Envelope(store.StoreId) };
        await app.Data.AddArchivedBatchAsync(store.StoreId, archived, "beacon:events:0/1-0");
        await app.Data.AddArchivedBatchAsync(store.StoreId, [AdminData.Envelope(store.StoreId)], "beacon:events:0/2-0");
        await app.Data.AddDeliveryAttemptAsync(store.StoreId, table.Id, archived[0].Event.EventId);
        var other = await app.Backends.CreateStoreAsync();
        await app.Data.AddArchivedBatchAsync(other.StoreId, [AdminData.Envelope(other.StoreId)], "beacon:events:0/3-0");
        var path = $"/api/admin/v1/stores/{store.StoreId}";

        var merchantApi = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantApi.DeleteAsync(path)).StatusCode);

        var api = app.ApiClient(AdminApp.BootstrapApiKey);
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);
        var response = await api.DeleteAsync(path);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await channel.WaitForAsync(new ConfigChange.Token(TokenHasher.Hash(store.Token)), TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync(path)).StatusCode);

        var status = await WaitForCompletionAsync(api, response.Headers.Location!.OriginalString);
        Assert.Equal(JsonValueKind.Null, status.GetProperty("identifier").ValueKind);
        Assert.Equal(2, status.GetProperty("deleted").GetProperty("events").GetInt64());
        Assert.Equal(1, status.GetProperty("deleted").GetProperty("quarantine").GetInt64());
        Assert.Equal(3, status.GetProperty("deleted").GetProperty("archive_events").GetInt64());
        Assert.Equal(1, status.GetProperty("deleted").GetProperty("delivery_attempts").GetInt64());
        Assert.Empty(await app.Data.ArchivedBatchesAsync(store.StoreId));
        Assert.Empty(await app.Data.AttemptEventIdsAsync(store.StoreId));
        Assert.Single(await app.Data.ArchivedBatchesAsync(other.StoreId));
        await app.WithDbAsync(async db =>
        {
            Assert.False(await db.Events.AnyAsync(e => e.StoreId == store.StoreId));
            Assert.False(await db.Pipelines.AnyAsync(p => p.StoreId == store.StoreId));
            Assert.False(await db.AccessTokens.AnyAsync(t => t.StoreId == store.StoreId));
            Assert.False(await db.StoreMembers.AnyAsync(m => m.StoreId == store.StoreId));
            return 0;
        });
    }

    [Fact]
    public async Task OperatorsSetAStoresRetentionMerchantsCannot()
    {
        var (store, merchant, _) = await app.MerchantWithStoreAsync();
        var path = $"/api/admin/v1/stores/{store.StoreId}/retention";
        var merchantApi = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantApi.PutAsJsonAsync(path, new { eventDays = 7 })).StatusCode);

        var api = app.ApiClient(AdminApp.BootstrapApiKey);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.PutAsJsonAsync(path, new { eventDays = 0, deadLetterDays = 5000 })).StatusCode);
        var set = await (await api.PutAsJsonAsync(path, new { eventDays = 7, deadLetterDays = 3 })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(7, set.GetProperty("eventRetentionDays").GetInt32());
        var stored = await app.WithDbAsync(db => db.Stores.AsNoTracking().SingleAsync(s => s.Id == store.StoreId));
        Assert.Equal((7, 3), (stored.EventRetentionDays, stored.DeadLetterRetentionDays));

        var back = await (await api.PutAsJsonAsync(path, new { })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, back.GetProperty("eventRetentionDays").ValueKind);
    }

    [Fact]
    public async Task OperatorsListLockUnlockAndResetPasswordsWithALinkShownOnce()
    {
        var user = await app.CreateUserAsync();
        var api = app.ApiClient(AdminApp.BootstrapApiKey);
        var users = await api.GetFromJsonAsync<List<JsonElement>>("/api/admin/v1/users");
        Assert.Contains(users!, u => u.GetProperty("id").GetString() == user.Id && u.GetProperty("email").GetString() == user.Email);

        var merchantApi = app.ApiClient(await app.CreateApiKeyAsync(user.Id));
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantApi.GetAsync("/api/admin/v1/users")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await api.PostAsync($"/api/admin/v1/users/{user.Id}/lock", null)).StatusCode);
        var refused = await app.Anonymous().PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
        Assert.NotEqual(HttpStatusCode.Redirect, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await merchantApi.GetAsync("/api/admin/v1/stores")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.PostAsync($"/api/admin/v1/users/{user.Id}/unlock", null)).StatusCode);
        await app.SignInAsync(user.Email!);

        var reset = await (await api.PostAsync($"/api/admin/v1/users/{user.Id}/reset-password", null)).Content.ReadFromJsonAsync<JsonElement>();
        var link = new Uri(reset.GetProperty("resetLink").GetString()!);
        var oldPassword = await app.Anonymous().PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
        Assert.NotEqual(HttpStatusCode.Redirect, oldPassword.StatusCode);
        var client = app.Anonymous();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(link.PathAndQuery)).StatusCode);
        var set = await client.PostFormAsync(link.PathAndQuery, new() { ["Password"] = "a-brand-new-password-2" }, link.PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, set.StatusCode);
        await app.SignInAsync(user.Email!, "a-brand-new-password-2");
        Assert.Equal(HttpStatusCode.NotFound, (await app.Anonymous().GetAsync(link.PathAndQuery)).StatusCode);
    }

    [Fact]
    public async Task TheUsersPageIsForOperatorsAndShowsAResetLinkOnce()
    {
        var user = await app.CreateUserAsync();
        var (_, _, merchantClient) = await app.MerchantWithStoreAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantClient.GetAsync("/users")).StatusCode);

        var operatorClient = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);
        Assert.Contains(user.Email!, await operatorClient.GetStringAsync("/users"));
        var page = await operatorClient.PostFormAsync($"/users?handler=Reset&userId={Uri.EscapeDataString(user.Id)}", new Dictionary<string, string>(), "/users");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("/account/accept-invitation?user=", html);
        Assert.Contains("no-store", page.Headers.CacheControl!.ToString());
        Assert.DoesNotContain("/account/accept-invitation?user=", await operatorClient.GetStringAsync("/users"));
    }

    [Fact]
    public async Task TheDeletionsPageRequestsAndListsADeletion()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var path = $"/stores/{store.StoreId}/deletions";
        var response = await client.PostFormAsync($"{path}?handler=Request",
            new Dictionary<string, string> { ["Field"] = "visitor_id", ["Value"] = "visitor-42", ["Suppress"] = "true" }, path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var html = await client.GetStringAsync(path);
        Assert.Contains("visitor_id = visitor-42", html);
        Assert.True(await app.WithDbAsync(db => db.DataDeletions.AnyAsync(d => d.StoreId == store.StoreId && d.Suppress && d.IdentifierValue == "visitor-42")));
    }

    [Fact]
    public async Task OperatorsDeleteATokenSetRetentionAndDeleteAStoreFromItsPagesMerchantsCannot()
    {
        var (store, _, merchantClient) = await app.MerchantWithStoreAsync();
        var page = $"/stores/{store.StoreId}";
        var retention = new Dictionary<string, string> { ["EventDays"] = "7", ["DeadLetterDays"] = "3" };
        // A merchant's store page has neither form; the tokens page gives the merchant's antiforgery token.
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantClient.PostFormAsync($"{page}?handler=Retention", retention, $"{page}/tokens")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await merchantClient.PostFormAsync($"{page}?handler=Delete", [], $"{page}/tokens")).StatusCode);
        var client = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);

        var tokens = $"{page}/tokens";
        Assert.Equal(HttpStatusCode.Redirect, (await client.PostFormAsync($"{tokens}?handler=Delete&tokenId={store.TokenId}", [], tokens)).StatusCode);
        Assert.False(await app.WithDbAsync(db => db.AccessTokens.AnyAsync(t => t.Id == store.TokenId)));

        Assert.Equal(HttpStatusCode.Redirect, (await client.PostFormAsync($"{page}?handler=Retention", retention, page)).StatusCode);
        var kept = await app.WithDbAsync(db => db.Stores.AsNoTracking().SingleAsync(s => s.Id == store.StoreId));
        Assert.Equal((7, 3), (kept.EventRetentionDays, kept.DeadLetterRetentionDays));
        Assert.Contains("value=\"7\"", await client.GetStringAsync(page));

        var deleted = await client.PostFormAsync($"{page}?handler=Delete", [], page);
        Assert.Equal(HttpStatusCode.Redirect, deleted.StatusCode);
        Assert.Equal("/stores", deleted.Headers.Location!.OriginalString);
        Assert.False(await app.WithDbAsync(db => db.Stores.AnyAsync(s => s.Id == store.StoreId)));
        Assert.True(await app.WithDbAsync(db => db.DataDeletions.AnyAsync(d => d.StoreId == store.StoreId && d.IdentifierField == null)));
    }

    [Fact]
    public async Task TheUsersPageLocksAnAccountOutAndLetsItBackIn()
    {
        var user = await app.CreateUserAsync();
        var client = await app.SignInAsync(AdminApp.OperatorEmail, AdminApp.OperatorPassword);

        var locked = await client.PostFormAsync($"/users?handler=Lock&userId={Uri.EscapeDataString(user.Id)}", [], "/users");
        Assert.Equal(HttpStatusCode.Redirect, locked.StatusCode);
        var refused = await app.Anonymous().PostFormAsync("/account/login", new() { ["Email"] = user.Email!, ["Password"] = AdminApp.Password });
        Assert.NotEqual(HttpStatusCode.Redirect, refused.StatusCode);

        Assert.Equal(HttpStatusCode.Redirect, (await client.PostFormAsync($"/users?handler=Unlock&userId={Uri.EscapeDataString(user.Id)}", [], "/users")).StatusCode);
        await app.SignInAsync(user.Email!);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"Timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    private static async Task<JsonElement> WaitForCompletionAsync(HttpClient api, string path)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            var status = await api.GetFromJsonAsync<JsonElement>(path);
            var state = status.GetProperty("status").GetString();
            if (state is "completed" or "failed" || DateTimeOffset.UtcNow > deadline)
            {
                Assert.True(state == "completed", $"{state}: {status}");
                return status;
            }
            await Task.Delay(200);
        }
    }
}
