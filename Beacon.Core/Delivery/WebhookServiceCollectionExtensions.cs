using Beacon.Core.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Beacon.Core.Delivery;

public static class WebhookServiceCollectionExtensions
{
    /// <summary>Registers <see cref="DeliveryOptions"/> (section <c>Delivery</c>), <see cref="DestinationGuard"/>, <see cref="WebhookSender"/>
    /// and <see cref="WebhookSecretProtector"/> (which needs <see cref="MasterKey"/> configured).</summary>
    public static IServiceCollection AddBeaconWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<DeliveryOptions>(configuration.GetSection(DeliveryOptions.Section));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<DestinationGuard>();
        services.TryAddSingleton<WebhookSender>();
        services.TryAddSingleton(_ => MasterKey.FromConfiguration(configuration));
        services.TryAddSingleton<WebhookSecretProtector>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MasterKeyCheck>());
        return services;
    }
}
