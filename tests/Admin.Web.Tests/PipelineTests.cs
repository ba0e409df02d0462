using System.Net;
using System.Net.Http.Json;
using Beacon.Core.Data;
using Beacon.Core.Messaging;
using Beacon.Core.Delivery;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed class PipelineTests(AdminApp app)
{
    [Fact]
    public async Task CreatingAWebhookPipelineShowsItsSecretOnceAndAnnouncesTheStore()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        await using var channel = await ConfigChannel.ListenAsync(app.Backends.RedisConnectionString);

        var response = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/new", Form("Orders", "https://hooks.example.com/orders", "purchase", "add_to_cart"),
            "/account/login");
        var html = await response.Content.ReadAsStringAsync();
        var secret = TokenTests.SecretOf(html);
        Assert.StartsWith("whsec_", secret);
        await channel.WaitForAsync(new ConfigChange.Store(store.StoreId), TimeSpan.FromSeconds(5));

        var pipeline = await app.Data.WithDbAsync(db => db.Pipelines.SingleAsync(p => p.StoreId == store.StoreId));
        Assert.DoesNotContain(secret, pipeline.Secret);
        Assert.Equal(secret, TestSecrets.Protector.Open(pipeline.Secret));
        Assert.Equal(PipelineKinds.Webhook, pipeline.Kind);
        Assert.True(pipeline.Enabled);
        // Stored in catalog order, whatever order the boxes were ticked in.
        Assert.Equal(["add_to_cart", "purchase"], pipeline.EventTypes);

        var edit = await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit");
        Assert.DoesNotContain(secret, edit);
        Assert.Contains("value=\"purchase\" checked", edit);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[fd00:ec2::254]/latest/")]
    [InlineData("http://[::ffff:169.254.169.254]/")]
    [InlineData("http://metadata.google.internal/computeMetadata/v1/")]
    [InlineData("http://2852039166/latest/meta-data/")]
    [InlineData("http://169.254.169.254./latest/meta-data/")]
    [InlineData("http://[64:ff9b::a9fe:aa02]/v2/credentials")]
    [InlineData("http://100.100.100.200/latest/meta-data/")]
    public async Task CloudMetadataAddressesAreRefusedWhenThePipelineIsCreated(string url)
    {
        var (store, merchant, client) = await app.MerchantWithStoreAsync();
        var page = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/new", Form("Steal", url), "/account/login");
        Assert.Contains("Cloud metadata addresses are never allowed", await page.Content.ReadAsStringAsync());

        var api = app.ApiClient(await app.CreateApiKeyAsync(merchant.Id));
        var response = await api.PostAsJsonAsync($"/api/admin/v1/stores/{store.StoreId}/pipelines",
            new { name = "Steal", kind = "webhook", url, eventTypes = Array.Empty<string>(), enabled = true });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<ValidationProblem>();
        Assert.Contains("url", problem!.Errors.Keys);

        Assert.False(await app.Data.WithDbAsync(db => db.Pipelines.AnyAsync(p => p.StoreId == store.StoreId)));
    }

    [Fact]
    public async Task RotatingTheSecretKeepsThePreviousOneValidForTheOverlap()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId);

        var response = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Rotate", new());
        var newSecret = TokenTests.SecretOf(await response.Content.ReadAsStringAsync());

        var rotated = await app.Data.PipelineAsync(pipeline.Id);
        Assert.Equal(newSecret, TestSecrets.Protector.Open(rotated.Secret));
        Assert.NotEqual(TestSecrets.Protector.Open(pipeline.Secret), newSecret);
        Assert.Equal(pipeline.Secret, rotated.PreviousSecret);
        // Admin:SecretRotationOverlap is two hours in these tests.
        Assert.InRange(rotated.PreviousSecretExpiresAt!.Value, DateTimeOffset.UtcNow.AddMinutes(119), DateTimeOffset.UtcNow.AddMinutes(121));
        Assert.DoesNotContain(newSecret, await client.GetStringAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit"));
    }

    [Fact]
    public async Task EditingChangesTheFilterAndDisablingIsShownWithItsReason()
    {
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, PipelineKinds.Postgres, url: null);

        var fields = Form("Warehouse", null, "search", "home-page-view");
        fields[1] = new("Input.Kind", PipelineKinds.Postgres);
        var saved = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Save", fields, "/account/login");
        Assert.Equal(HttpStatusCode.Redirect, saved.StatusCode);
        var edited = await app.Data.PipelineAsync(pipeline.Id);
        Assert.Equal("Warehouse", edited.Name);
        Assert.Equal(["search", "home-page-view"], edited.EventTypes);

        await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Toggle", new());
        var disabled = await app.Data.PipelineAsync(pipeline.Id);
        Assert.False(disabled.Enabled);
        Assert.Equal("Disabled in Admin.Web", disabled.DisabledReason);
        Assert.Contains("disabled", await client.GetStringAsync($"/stores/{store.StoreId}/pipelines"));

        await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Toggle", new());
        Assert.True((await app.Data.PipelineAsync(pipeline.Id)).Enabled);
    }

    [Fact]
    public async Task TheTestEventShowsTheDestinationsStatusAndTheFirstKilobyteOfATextAnswerOnly()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Status = 503;
        receiver.Answer = "maintenance until noon " + new string('x', 2000);
        receiver.AnswerContentType = "text/plain";
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);

        var response = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Test", new());
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("Test event: failed", html);
        Assert.Contains("<strong class=\"status\">503</strong>", html);
        Assert.Contains("HTTP 503 Service Unavailable", html);
        var shown = System.Text.RegularExpressions.Regex.Match(html, "<pre class=\"wrap\" id=\"test-response\">(.*?)</pre>",
            System.Text.RegularExpressions.RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains("content-type: text/plain", shown);
        Assert.Contains($"content-length: {receiver.Answer.Length}", shown);
        // The first 1,024 characters (Delivery:ResponseExcerptLength), not one more.
        Assert.Contains("maintenance until noon " + new string('x', 1024 - 23), shown);
        Assert.DoesNotContain(new string('x', 1024 - 22), shown);

        // A body that is not text is described, never shown.
        receiver.Status = 200;
        receiver.Answer = "PK\u0003\u0004 not for display";
        receiver.AnswerContentType = "application/octet-stream";
        html = await (await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Test", new())).Content.ReadAsStringAsync();
        Assert.Contains("content-type: application/octet-stream", html);
        Assert.Contains("(no text body shown)", html);
        Assert.DoesNotContain("not for display", html);
        var received = receiver.Requests.First();
        Assert.Contains("\"event_type\":\"page_view\"", System.Text.Encoding.UTF8.GetString(received.Body));
        Assert.StartsWith("v1,", received.Headers["webhook-signature"]);
    }

    [Fact]
    public async Task AfterARotationTheTestEventIsSignedWithTheNewAndTheOldSecret()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (store, _, client) = await app.MerchantWithStoreAsync();
        var pipeline = await app.CreatePipelineAsync(store.StoreId, url: receiver.Url);
        var oldSecret = TestSecrets.Protector.Open(pipeline.Secret);
        var rotated = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Rotate", new());
        var newSecret = TokenTests.SecretOf(await rotated.Content.ReadAsStringAsync());

        var response = await client.PostFormAsync($"/stores/{store.StoreId}/pipelines/{pipeline.Id}/edit?handler=Test", new());
        Assert.Contains("<strong class=\"status\">200</strong>", await response.Content.ReadAsStringAsync());

        var received = Assert.Single(receiver.Requests);
        var id = received.Headers["webhook-id"];
        var timestamp = long.Parse(received.Headers["webhook-timestamp"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(
            [WebhookSigner.Sign(newSecret, id, timestamp, received.Body), WebhookSigner.Sign(oldSecret, id, timestamp, received.Body)],
            received.Headers["webhook-signature"].Split(' '));
    }

    private static List<KeyValuePair<string, string>> Form(string name, string? url, params string[] eventTypes)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("Input.Name", name),
            new("Input.Kind", PipelineKinds.Webhook),
            new("Input.Url", url ?? ""),
            new("Input.Enabled", "true"),
            new("Input.Enabled", "false"),
        };
        fields.AddRange(eventTypes.Select(t => new KeyValuePair<string, string>("Input.EventTypes", t)));
        return fields;
    }

    private sealed record ValidationProblem(int Status, Dictionary<string, string[]> Errors);
}
