using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;

namespace Beacon.AppHost.Resources;

/// <summary>What a developer needs once everything is healthy: the addresses, a ready-to-paste <c>curl</c>, the dev sign-in.</summary>
internal sealed class ReadyBanner(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    AppHostSettings settings,
    ReadyBanner.Credentials credentials) : BackgroundService
{
    public sealed record Credentials(string DevToken, string OperatorEmail, string OperatorPassword);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            foreach (var name in model.Resources.OfType<ProjectResource>().Where(p => p.Name != "migrate").Select(p => p.Name))
            {
                await notifications.WaitForResourceHealthyAsync(name, stoppingToken);
                Console.WriteLine($"[apphost] {name} is healthy");
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var timestamp = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
        // The console ends up in logs: the banner names the owner-only files that hold the secrets, never the secrets.
        var passwordFile = Path.Combine(settings.DataDirectory, "admin-password");
        var tokenFile = Path.Combine(settings.DataDirectory, "dev-token");
        Console.WriteLine($"""
            [apphost] Beacon is up.
              ingestion  http://localhost:{settings.IngestionPort}  (gRPC h2c: localhost:{settings.IngestionGrpcPort})
              admin      http://localhost:{settings.AdminPort}  (sign in as {credentials.OperatorEmail}, password in {passwordFile})
              worker     http://localhost:{settings.WorkerPort}/health
              dashboard  {(settings.Headless ? "off (headless)" : "http://localhost:18888")}
            Send an event:
              curl -i -X POST http://localhost:{settings.IngestionPort}/beacon -H "X-Storefront-Access-Token: $(cat {tokenFile})" -H 'Content-Type: application/json' -d '{"{"}"events":[{"{"}"event_type":"product_view","timestamp":"{timestamp}","session_id":"s1","product_id":7003338965178{"}"}]{"}"}'
            Press Ctrl+C to stop everything.
            """);
    }
}
