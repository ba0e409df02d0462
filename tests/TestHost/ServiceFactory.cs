using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Beacon.TestHost;

/// <summary>
/// <see cref="WebApplicationFactory{TEntryPoint}"/> for any Beacon service, pointed at the test's servers.
/// Extra settings override or add configuration (e.g. a Redis of the test's own); <paramref name="logs"/> sees what
/// the service logs (set the categories' levels in <paramref name="settings"/>).
/// </summary>
public class ServiceFactory<TEntryPoint>(Backends backends, IReadOnlyDictionary<string, string?>? settings = null, LogCapture? logs = null)
    : WebApplicationFactory<TEntryPoint> where TEntryPoint : class
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        if (logs is not null)
        {
            builder.ConfigureLogging(logging => logging.AddProvider(logs));
        }
        var merged = new Dictionary<string, string?>(backends.ServiceConfiguration);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            merged[key] = value;
        }
        // Settings win over appsettings.json: UseSetting applies to the host configuration first,
        // AddInMemoryCollection adds them last to the app configuration.
        foreach (var (key, value) in merged)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureAppConfiguration(config => config.AddInMemoryCollection(merged));
    }
}
