using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Beacon.Core.Quarantine;

public static class QuarantineServiceCollectionExtensions
{
    /// <summary>Registers the scoped <see cref="QuarantineService"/> (needs a <c>BeaconDbContext</c> and Redis, e.g. from <c>AddBeaconPostgres</c> and <c>AddBeaconRedis</c>).</summary>
    public static IServiceCollection AddBeaconQuarantine(this IServiceCollection services)
    {
        services.TryAddScoped<QuarantineService>();
        return services;
    }
}
