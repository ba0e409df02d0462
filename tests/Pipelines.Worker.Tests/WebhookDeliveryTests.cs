using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Worker.Tests;

public sealed class WebhookDeliveryTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    [Fact]
    public async Task DeliveredBatchesCarryAStandardWebhooksSignatureThatAnIndependentVerifierAccepts()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker();

        var events = await scenario.EnqueueManyAsync(entries: 3, eventsPerEntry: 5);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 15, TimeSpan.FromSeconds(20), "15 events delivered");

        // The worker read the secret sealed and signed with it opened.
        Assert.DoesNotContain(WebhookSecret.Prefix, pipeline.Secret);
        var secret = TestSecrets.Protector.Open(pipeline.Secret);
        foreach (var webhook in receiver.Received)
        {
            Assert.StartsWith("msg_", webhook.Id);
            Assert.True(SpecVerifier.Verify(secret, webhook), $"signature {webhook.Signature} does not verify");
            Assert.False(SpecVerifier.Verify(WebhookSecret.New(), webhook), "a signature must not verify with another secret");
            var age = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - long.Parse(webhook.Timestamp);
            Assert.InRange(age, -5, 60);
        }
        Assert.Equal(events.Select(e => e.Event.EventId).Order(), receiver.AcceptedEventIds.Order());
    }

    [Fact]
    public async Task DuringASecretRotationBothSecretsSignTheBatch()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var previous = WebhookSecret.New();
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url, previousSecret: previous,
            previousSecretExpiresAt: DateTimeOffset.UtcNow.AddHours(1));
        scenario.StartWorker();

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 2, TimeSpan.FromSeconds(20), "2 events delivered");

        var webhook = receiver.Received[0];
        Assert.Equal(2, webhook.Signature.Split(' ').Length);
        Assert.True(SpecVerifier.Verify(TestSecrets.Protector.Open(pipeline.Secret), webhook));
        Assert.True(SpecVerifier.Verify(previous, webhook));
    }

    [Fact]
    public async Task AWorkerWithAnotherMasterKeySendsNothingAndKeepsTheBatchForRetry()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?> { [MasterKey.ConfigurationKey] = MasterKey.Generate() });

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);

        // Not opened, so never sent (nor signed with a wrong key), and kept to retry once the key is right.
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.RetryBatches.AnyAsync(r => r.PipelineId == pipeline.Id && r.LastError!.Contains("Beacon:MasterKey"));
        }, TimeSpan.FromSeconds(20), "a retry batch saying the secret does not open");
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task TheBodyCarriesEveryEventWithSnakeCaseFieldsAndEnrichment()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker();

        var sent = scenario.NewEvent("product_click");
        await scenario.EnqueueAsync([sent]);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1, TimeSpan.FromSeconds(20), "the event delivered");

        using var body = JsonDocument.Parse(receiver.Received[0].Body);
        Assert.Equal("events.batch", body.RootElement.GetProperty("type").GetString());
        Assert.Equal(receiver.Received[0].Id, body.RootElement.GetProperty("batch_id").GetString());
        var e = Assert.Single(body.RootElement.GetProperty("events").EnumerateArray().ToList());
        Assert.Equal(sent.Event.EventId, e.GetProperty("event_id").GetString());
        Assert.Equal("product_click", e.GetProperty("event_type").GetString());
        Assert.Equal(scenario.StoreId.ToString(), e.GetProperty("store_id").GetString());
        Assert.Equal("beacon", e.GetProperty("source").GetString());
        Assert.Equal("1234567", e.GetProperty("product_id").GetString());
        Assert.Equal(3, e.GetProperty("position").GetInt32());
        Assert.Equal("san francisco", e.GetProperty("geo_city").GetString());
        Assert.Equal("desktop", e.GetProperty("device_type").GetString());
        Assert.Equal("/products/x", e.GetProperty("contextual_data").GetProperty("page").GetString());
        Assert.Equal(sent.ReceivedAt.ToDateTimeOffset(), e.GetProperty("received_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task APipelineReceivesOnlyTheEventTypesOfItsFilterAndStatsAreRecorded()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url, eventTypes: ["add_to_cart"]);
        scenario.StartWorker();

        var wanted = scenario.NewEvent("add_to_cart");
        await scenario.EnqueueAsync([scenario.NewEvent("page_view"), wanted, scenario.NewEvent("search")]);
        await receiver.WaitUntilAsync(r => r.AcceptedEventIds.Count >= 1, TimeSpan.FromSeconds(20), "the add_to_cart event delivered");
        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeliveryStats.AnyAsync(s => s.PipelineId == pipeline.Id && s.Delivered == 1 && s.LatencyP50Ms != null);
        }, TimeSpan.FromSeconds(10), "a delivery stat row with one delivered event");

        // Every entry is acked once its pipelines are done, including events no pipeline wanted.
        await Eventually.WaitAsync(async () =>
            (await scenario.Redis.GetDatabase().StreamPendingAsync(scenario.Stream, "pipelines")).PendingMessageCount == 0,
            TimeSpan.FromSeconds(10), "no pending entries");
        Assert.Equal([wanted.Event.EventId], receiver.AcceptedEventIds);
    }

    [Fact]
    public async Task APipelineAddedLaterReceivesEventsOnceItsStoreChangeIsAnnounced()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var first = scenario.Own(await WebhookReceiver.StartAsync());
        var second = scenario.Own(await WebhookReceiver.StartAsync());
        await scenario.AddWebhookPipelineAsync(first.Url);
        // No periodic reload during the test: only the announcement can make the worker see the new pipeline.
        scenario.StartWorker(new Dictionary<string, string?> { ["Worker:PipelineRefreshInterval"] = "01:00:00" });
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 1);
        await first.WaitUntilAsync(r => r.AcceptedEventIds.Count == 1, TimeSpan.FromSeconds(20), "the first pipeline served");

        await scenario.AddWebhookPipelineAsync(second.Url);
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        await Task.Delay(300);
        var later = await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);

        await second.WaitUntilAsync(r => r.AcceptedEventIds.Count == 2, TimeSpan.FromSeconds(10), "the new pipeline served");
        Assert.Equal(later.Select(e => e.Event.EventId).Order(), second.AcceptedEventIds.Order());
        await first.WaitUntilAsync(r => r.AcceptedEventIds.Count == 3, TimeSpan.FromSeconds(10), "the first pipeline still served");
    }

    /// <summary>The Standard Webhooks verification, written from the spec and independent of Beacon's signer.</summary>
    private static class SpecVerifier
    {
        public static bool Verify(string secret, ReceivedWebhook webhook)
        {
            var key = Convert.FromBase64String(secret["whsec_".Length..]);
            var signedContent = $"{webhook.Id}.{webhook.Timestamp}.{Encoding.UTF8.GetString(webhook.Body)}";
            using var hmac = new HMACSHA256(key);
            var expected = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(signedContent)));
            foreach (var versioned in webhook.Signature.Split(' '))
            {
                var parts = versioned.Split(',', 2);
                if (parts.Length == 2 && parts[0] == "v1" &&
                    CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(parts[1]), Encoding.ASCII.GetBytes(expected)))
                {
                    return true;
                }
            }
            return false;
        }
    }
}
