using System.Net;
using Beacon.Core.Messaging;
using Beacon.Core.Security;
using Beacon.Core.Delivery;
using Beacon.TestHost;
using Beacon.Worker.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Worker.Tests;

public sealed class DestinationGuardTests(BackendsFixture fixture) : IClassFixture<BackendsFixture>
{
    /// <summary>
    /// A sender as a store sees it: the operator's bound and the store's own list are both
    /// <paramref name="storeNetworks"/>, so the store gets exactly those (or the operator default when there are none).
    /// </summary>
    private static GuardedSender Sender(bool allowPrivate, params string[] storeNetworks)
    {
        var options = Options.Create(new DeliveryOptions
        {
            AllowPrivateDestinations = allowPrivate,
            AllowedPrivateNetworks = [.. storeNetworks],
            Timeout = TimeSpan.FromSeconds(3),
        });
        var scope = new DestinationGuard(options).ScopeFor(storeNetworks.Length > 0 ? storeNetworks : null);
        return new GuardedSender(new WebhookSender(TimeProvider.System, options), scope);
    }

    private sealed class GuardedSender(WebhookSender sender, DestinationScope scope) : IDisposable
    {
        public WebhookSender Inner => sender;

        public Task<WebhookResult> SendAsync(string url, DestinationScope? other = null) =>
            sender.SendAsync(new WebhookRequest(new Uri(url), "msg_test", "{}"u8.ToArray(), new WebhookSecrets(WebhookSecret.New()), other ?? scope),
                CancellationToken.None);

        public void Dispose() => sender.Dispose();
    }

    private static Task<WebhookResult> SendAsync(GuardedSender sender, string url) => sender.SendAsync(url);

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
    [InlineData("http://localhost.:{port}/hooks")]
    [InlineData("http://hooks.localhost:{port}/hooks")]
    [InlineData("http://127.1:{port}/hooks")]
    [InlineData("http://2130706433:{port}/hooks")]
    [InlineData("http://0x7f000001:{port}/hooks")]
    [InlineData("http://0177.0.0.1:{port}/hooks")]
    [InlineData("http://[::ffff:7f00:1]:{port}/hooks")]
    [InlineData("http://[::127.0.0.1]:{port}/hooks")]
    [InlineData("http://[64:ff9b::127.0.0.1]:{port}/hooks")]
    [InlineData("http://[2002:7f00:1::]:{port}/hooks")]
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
    public async Task AConfiguredProxyIsNotUsedSoThePrivateDestinationItselfIsChecked()
    {
        // The proxy stands in for one set through HTTP_PROXY; it would fetch 10.1.2.3 for us if it were used.
        await using var proxy = await WebhookReceiver.StartAsync();
        var previous = HttpClient.DefaultProxy;
        HttpClient.DefaultProxy = new WebProxy($"http://127.0.0.1:{proxy.Port}");
        try
        {
            using var sender = Sender(allowPrivate: false, "127.0.0.1");

            var result = await SendAsync(sender, "http://10.1.2.3:81/hooks");

            Assert.Equal(WebhookOutcome.Refused, result.Outcome);
            Assert.Empty(proxy.Received);
        }
        finally
        {
            HttpClient.DefaultProxy = previous;
        }
    }

    [Fact]
    public async Task AnAllowedAddressThatCannotBeReachedIsAConnectionErrorEvenWhenAnotherAddressIsRefused()
    {
        // The operator trusts 127.0.0.1 (standing in for a public address); nothing listens on the port.
        var guard = new DestinationGuard(Options.Create(new DeliveryOptions { AllowedPrivateNetworks = ["127.0.0.1"] }));

        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () =>
            await DestinationGuard.ConnectAsync("hooks.example", [IPAddress.Loopback, IPAddress.IPv6Loopback], FreePort.Next(),
                guard.ScopeFor(["127.0.0.1"]), CancellationToken.None));
    }

    [Fact]
    public async Task CloudMetadataIsRefusedEvenWhenPrivateDestinationsAreAllowed()
    {
        using var sender = Sender(allowPrivate: true, "169.254.0.0/16");

        var result = await SendAsync(sender, "http://169.254.169.254/latest/meta-data");

        Assert.Equal(WebhookOutcome.Refused, result.Outcome);
        Assert.Contains("metadata", result.Error);
    }

    [Theory]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:a9fe:a9fe::1")]
    public void CloudMetadataInsideAnIPv6AddressIsRefusedEvenWhenPrivateDestinationsAreAllowed(string address)
    {
        var guard = new DestinationGuard(Options.Create(new DeliveryOptions { AllowPrivateDestinations = true }));

        Assert.Contains("metadata", DestinationGuard.RefusalReason(IPAddress.Parse(address), guard.ScopeFor(null)));
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

    [Fact]
    public async Task ATwoHundredWhoseBodyStallsIsDeliveredNotATimeout()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = async (context, _) =>
        {
            context.Response.StatusCode = 200;
            await context.Response.WriteAsync("ok, and then");
            await context.Response.Body.FlushAsync();
            await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted);
        };
        using var sender = Sender(allowPrivate: true); // a 3 s delivery timeout

        var result = await SendAsync(sender, receiver.Url);

        Assert.Equal(WebhookOutcome.Delivered, result.Outcome);
        Assert.Equal(200, result.StatusCode);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest", false)]
    [InlineData("http://[fd00:ec2::254]/", false)]
    [InlineData("http://[::ffff:169.254.169.254]/", false)]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/", false)]
    [InlineData("http://[2002:a9fe:a9fe::1]/", false)]
    [InlineData("http://metadata.google.internal./computeMetadata/v1/", false)]
    [InlineData("ftp://example.com/", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("not a url", false)]
    [InlineData("https://hooks.example.com/beacon", true)]
    [InlineData("http://10.0.0.5/hook", true)]
    public void UrlsAreCheckedWhenAPipelineIsCreated(string url, bool valid)
    {
        // As if the operator allowed every private network: only the URL's form and metadata decide.
        Assert.Equal(valid, DestinationGuard.ValidateUrl(url, DestinationScope.AllPrivate) is null);
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

    /// <summary>Every cloud-metadata address in the spellings and tunnels that reach it (the hostile set).</summary>
    public static TheoryData<string> MetadataUrls =>
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://169.254.170.23/v1/credentials",
        "http://100.100.100.200/latest/meta-data/",
        "http://192.0.0.192/opc/v2/instance/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fd00:ec2::23]/v1/credentials",
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://0251.0376.0251.0376/latest/meta-data/",
        "http://169.254.43518/latest/meta-data/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://169.254.169.254./latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:aa02]/v2/credentials",
        "http://[0:0:0:0:0:ffff:6464:64c8]/",
        "http://[::169.254.169.254]/",
        "http://[::ffff:0:169.254.169.254]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[64:ff9b::6464:64c8]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[64:ff9b:1:a9fe:a9:fe00::]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[2002:c000:c0::1]/",
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
    ];

    [Theory]
    [MemberData(nameof(MetadataUrls))]
    [InlineData("http://metadata.google.internal./computeMetadata/v1/")]
    [InlineData("http://INSTANCE-DATA/latest/meta-data/")]
    public void MetadataInAnySpellingIsRefusedWhenAPipelineIsCreatedEvenWithEveryPrivateNetworkAllowed(string url)
    {
        Assert.Equal("Cloud metadata addresses are never allowed as destinations.", DestinationGuard.ValidateUrl(url, DestinationScope.AllPrivate));
    }

    [Theory]
    [MemberData(nameof(MetadataUrls))]
    public async Task MetadataInAnySpellingIsRefusedAtConnectTimeBehindARedirectEvenWithEveryPrivateNetworkAllowed(string url)
    {
        // A real receiver on loopback that sends the POST on to the metadata service.
        await using var redirecting = await WebhookReceiver.StartAsync();
        redirecting.Respond = (context, _) =>
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = url;
            return Task.CompletedTask;
        };
        using var sender = Sender(allowPrivate: true);

        var result = await SendAsync(sender, redirecting.Url);

        Assert.Single(redirecting.Received);
        // Refused, not Retry: no connection to the metadata address was even tried.
        Assert.Equal(WebhookOutcome.Refused, result.Outcome);
        Assert.Contains("metadata", result.Error);
    }

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("169.254.170.2")]
    [InlineData("169.254.170.23")]
    [InlineData("100.100.100.200")]
    [InlineData("192.0.0.192")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fd00:ec2::23")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::169.254.170.2")]
    [InlineData("64:ff9b::100.100.100.200")]
    [InlineData("64:ff9b:1:c000:0:c000::")]
    [InlineData("2002:a9fe:aa17::1")]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:ff3f")]
    public async Task AHostNameResolvingToMetadataIsRefusedAtConnectTimeWhateverTheStoreMayReach(string address)
    {
        // What a hostile DNS answer (or a re-resolution after the pipeline was created) would give.
        var everything = new DestinationGuard(Options.Create(new DeliveryOptions { AllowedPrivateNetworks = ["0.0.0.0/0", "::/0"] }))
            .ScopeFor(["0.0.0.0/0", "::/0"]);

        var refused = await Assert.ThrowsAsync<DestinationRefusedException>(async () =>
            await DestinationGuard.ConnectAsync("rebind.example", [IPAddress.Parse(address)], 80, everything, CancellationToken.None));
        Assert.Contains("metadata", refused.Message);
    }

    [Theory]
    [InlineData("http://127.0.0.1/")]
    [InlineData("http://localhost./")]
    [InlineData("http://api.localhost/")]
    [InlineData("http://[::ffff:127.0.0.1]/")]
    [InlineData("http://0x7f000001/")]
    [InlineData("http://10.0.0.5/")]
    [InlineData("http://192.168.0.1./")]
    [InlineData("http://[fc00::1]/")]
    [InlineData("http://[64:ff9b::10.0.0.1]/")]
    [InlineData("http://[2002:c0a8:1::]/")]
    public void PrivateDestinationsAreRefusedWhenAPipelineIsCreatedUnlessTheStoreMayReachThem(string url)
    {
        Assert.Contains("not a public address", DestinationGuard.ValidateUrl(url, DestinationScope.PublicOnly));
        Assert.Null(DestinationGuard.ValidateUrl(url, DestinationScope.AllPrivate));
    }

    [Fact]
    public async Task AStoresPrivateNetworkIsNotReachableForAnotherStoreEvenOverAPooledConnection()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var options = Options.Create(new DeliveryOptions { AllowedPrivateNetworks = ["127.0.0.0/8"], Timeout = TimeSpan.FromSeconds(3) });
        var guard = new DestinationGuard(options);
        using var sender = new GuardedSender(new WebhookSender(TimeProvider.System, options), guard.ScopeFor(["127.0.0.1"]));

        var granted = await sender.SendAsync(receiver.Url);
        var other = await sender.SendAsync(receiver.Url, guard.ScopeFor(null));
        var grantedAgain = await sender.SendAsync(receiver.Url);

        Assert.Equal(WebhookOutcome.Delivered, granted.Outcome);
        Assert.Equal(WebhookOutcome.Refused, other.Outcome);
        Assert.Equal(WebhookOutcome.Delivered, grantedAgain.Outcome);
        Assert.Equal(2, receiver.Received.Count);
    }

    [Fact]
    public void TheOperatorsListBoundsStoresButGrantsNoStoreAnythingByItself()
    {
        var guard = new DestinationGuard(Options.Create(new DeliveryOptions { AllowedPrivateNetworks = ["10.20.0.0/16"] }));

        Assert.NotNull(DestinationGuard.RefusalReason(IPAddress.Parse("10.20.1.1"), guard.ScopeFor(null)));
        Assert.Null(DestinationGuard.RefusalReason(IPAddress.Parse("10.20.1.1"), guard.ScopeFor(["10.20.1.0/24"])));
        // Granted 10/8, the store still gets only the operator's 10.20/16 of it.
        Assert.Null(DestinationGuard.RefusalReason(IPAddress.Parse("10.20.9.9"), guard.ScopeFor(["10.0.0.0/8"])));
        Assert.NotNull(DestinationGuard.RefusalReason(IPAddress.Parse("10.21.0.1"), guard.ScopeFor(["10.0.0.0/8"])));
        Assert.NotNull(DestinationGuard.RefusalReason(IPAddress.Parse("127.0.0.1"), guard.ScopeFor(["127.0.0.1"])));

        var (networks, errors) = guard.NormalizeStoreNetworks(["10.20.3.0/24", " 10.20.3.4 ", "10.0.0.0/8", "010.20.0.0/16", "10.20.3.1/24"]);
        Assert.Equal(["10.20.3.0/24", "10.20.3.4/32"], networks);
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void AStoreMayNotBeGrantedMetadataEvenInsideAnAllowedNetwork()
    {
        var guard = new DestinationGuard(Options.Create(new DeliveryOptions { AllowedPrivateNetworks = ["169.254.0.0/16", "fd00::/8"] }));
        var scope = guard.ScopeFor(["169.254.0.0/16", "fd00::/8"]);

        Assert.Null(DestinationGuard.RefusalReason(IPAddress.Parse("169.254.1.1"), scope));
        Assert.Contains("metadata", DestinationGuard.RefusalReason(IPAddress.Parse("169.254.170.2"), scope));
        Assert.Contains("metadata", DestinationGuard.RefusalReason(IPAddress.Parse("fd00:ec2::23"), scope));
    }

    [Fact]
    public async Task TheWorkerReachesAPrivateNetworkOnlyWhileTheStoreIsGrantedIt()
    {
        await using var scenario = await Scenario.StartAsync(fixture.Backends);
        var receiver = scenario.Own(await WebhookReceiver.StartAsync());
        var pipeline = await scenario.AddWebhookPipelineAsync(receiver.Url);
        await SetStoreNetworksAsync(scenario, ["127.0.0.1"]);
        // The operator allows 127.0.0.1 as an upper bound; only the store's own grant lets its webhooks use it.
        scenario.StartWorker(new Dictionary<string, string?>
        {
            ["Delivery:AllowPrivateDestinations"] = "false",
            ["Delivery:AllowedPrivateNetworks:0"] = "127.0.0.1",
        });

        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Received.Count == 1), TimeSpan.FromSeconds(20), "the granted store's batch");

        // The grant is withdrawn: the worker's pipeline cache reloads the pipelines with their store, and the
        // next batch is refused (pooled connections per grant are covered by the sender test above).
        await SetStoreNetworksAsync(scenario, null);
        await ConfigChanges.PublishAsync(scenario.Redis, new ConfigChange.Store(scenario.StoreId));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await scenario.EnqueueManyAsync(entries: 1, eventsPerEntry: 2);

        await Eventually.WaitAsync(async () =>
        {
            await using var db = scenario.CreateDbContext();
            return await db.DeadLetters.CountAsync(d => d.PipelineId == pipeline.Id && d.LastError!.Contains("refused")) == 2;
        }, TimeSpan.FromSeconds(20), "two dead letters with the refusal");
        Assert.Single(receiver.Received);
    }

    private static async Task SetStoreNetworksAsync(Scenario scenario, List<string>? networks)
    {
        await using var db = scenario.CreateDbContext();
        var store = await db.Stores.SingleAsync(s => s.Id == scenario.StoreId);
        store.AllowedPrivateNetworks = networks;
        await db.SaveChangesAsync();
    }
}
