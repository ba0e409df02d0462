using System.Net;
using Beacon.Core.Security;
using Beacon.Core.Webhooks;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Worker.Tests;

public sealed class DestinationGuardTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    private static WebhookSender Sender(bool allowPrivate, params string[] allowedNetworks)
    {
        var options = Options.Create(new DeliveryOptions
        {
            AllowPrivateDestinations = allowPrivate,
            AllowedPrivateNetworks = [.. allowedNetworks],
            Timeout = TimeSpan.FromSeconds(3),
        });
        return new WebhookSender(new DestinationGuard(options), TimeProvider.System, options);
    }

    private static Task<WebhookResult> SendAsync(WebhookSender sender, string url) =>
        sender.SendAsync(new WebhookRequest(new Uri(url), "msg_test", "{}"u8.ToArray(), new WebhookSecrets(WebhookSecret.New())),
            CancellationToken.None);

    [Theory]
    [InlineData("http://127.0.0.1:{port}/hooks")]
    [InlineData("http://[::1]:{port}/hooks")]
    [InlineData("http://localhost:{port}/hooks")]
    [InlineData("http://10.1.2.3:{port}/hooks")]
    [InlineData("http://192.168.1.10:{port}/hooks")]
    [InlineData("http://100.64.0.1:{port}/hooks")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://[fd00:ec2::254]/latest/meta-data")]
    [InlineData("http://[::ffff:127.0.0.1]:{port}/hooks")]
    [InlineData("http://[fc00::1]:{port}/hooks")]
    [InlineData("http://0.0.0.0:{port}/hooks")]
    public async Task NonPublicDestinationsAreRefusedBeforeAnythingIsSent(string template)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var sender = Sender(allowPrivate: false);

        var result = await SendAsync(sender, template.Replace("{port}", receiver.Port.ToString()));

        Assert.Equal(WebhookOutcome.Refused, result.Outcome);
        Assert.Contains("refused", result.Error);
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task CloudMetadataIsRefusedEvenWhenPrivateDestinationsAreAllowed()
    {
        using var sender = Sender(allowPrivate: true, "169.254.0.0/16");

        var result = await SendAsync(sender, "http://169.254.169.254/latest/meta-data");

        Assert.Equal(WebhookOutcome.Refused, result.Outcome);
        Assert.Contains("metadata", result.Error);
    }

    [Fact]
    public async Task ARedirectToAPrivateAddressIsRefused()
    {
        await using var target = await WebhookReceiver.StartAsync();
        await using var redirecting = await WebhookReceiver.StartAsync();
        redirecting.Respond = (context, _) =>
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = $"http://[::1]:{target.Port}/hooks";
            return Task.CompletedTask;
        };
        // The operator trusts 127.0.0.1 only (standing in for a public receiver), not the rest of loopback.
        using var sender = Sender(allowPrivate: false, "127.0.0.1");

        var result = await SendAsync(sender, redirecting.Url);

        Assert.Single(redirecting.Received);
        Assert.Equal(WebhookOutcome.Refused, result.Outcome);
        Assert.Empty(target.Received);
    }

    [Theory]
    [InlineData(307, true)]
    [InlineData(308, true)]
    [InlineData(302, false)]
    [InlineData(301, false)]
    public async Task OnlyRedirectsThatKeepThePostAndItsBodyAreFollowed(int status, bool followed)
    {
        await using var target = await WebhookReceiver.StartAsync();
        await using var redirecting = await WebhookReceiver.StartAsync();
        redirecting.Respond = (context, _) =>
        {
            context.Response.StatusCode = status;
            context.Response.Headers.Location = target.Url;
            return Task.CompletedTask;
        };
        using var sender = Sender(allowPrivate: true);

        var result = await SendAsync(sender, redirecting.Url);

        Assert.Equal(followed ? WebhookOutcome.Delivered : WebhookOutcome.Rejected, result.Outcome);
        Assert.Equal(followed ? 1 : 0, target.Received.Count);
        if (followed)
        {
            Assert.Equal("{}", System.Text.Encoding.UTF8.GetString(target.Received[0].Body));
            Assert.Equal("msg_test", target.Received[0].Id);
        }
    }

    [Fact]
    public async Task AnAllowedDestinationIsReachedAndAnsweredWithStatusLatencyAndExcerpt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (context, _) => context.Response.WriteAsync("thanks");
        using var sender = Sender(allowPrivate: true);

        var result = await SendAsync(sender, receiver.Url);

        Assert.Equal(WebhookOutcome.Delivered, result.Outcome);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal("thanks", result.ResponseExcerpt);
        Assert.True(result.Latency > TimeSpan.Zero);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest", false)]
    [InlineData("http://[fd00:ec2::254]/", false)]
    [InlineData("http://[::ffff:169.254.169.254]/", false)]
    [InlineData("ftp://example.com/", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("not a url", false)]
    [InlineData("https://hooks.example.com/beacon", true)]
    [InlineData("http://10.0.0.5/hook", true)]
    public void UrlsAreCheckedWhenAPipelineIsCreated(string url, bool valid)
    {
        Assert.Equal(valid, DestinationGuard.ValidateUrl(url) is null);
    }

    [Theory]
    [InlineData("8.8.8.8", false)]
    [InlineData("2606:4700:4700::1111", false)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("100.127.255.255", true)]
    [InlineData("100.128.0.1", false)]
    [InlineData("224.0.0.1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("ff02::1", true)]
    [InlineData("::", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    public void AddressesAreClassifiedAsPublicOrNot(string address, bool nonPublic)
    {
        Assert.Equal(nonPublic, DestinationGuard.IsNonPublic(IPAddress.Parse(address)));
    }

    [Fact]
    public async Task TheWorkerDeadLettersEventsForAPrivateDestinationWhenPrivateDestinationsAreNotAllowed()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        scenario.StartWorker(new Dictionary<string, string?> { ["Delivery:AllowPrivateDestinations"] = "false" });

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id && d.LastError!.Contains("refused")) == 2;
        }, TimeSpan.FromSeconds(20), "two dead letters with the refusal");
        Assert.Empty(receiver.Received);
    }
}
