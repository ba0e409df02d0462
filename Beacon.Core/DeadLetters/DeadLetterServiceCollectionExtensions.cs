using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Beacon.Core.DeadLetters;

public static class DeadLetterServiceCollectionExtensions
{
    /// <summary>Registers the scoped <see cref="DeadLetterService"/> (needs a <c>BeaconDbContext</c>, e.g. from <c>AddBeaconPostgres</c>).</summary>
    public static IServiceCollection AddBeaconDeadLetters(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddScoped<DeadLetterService>();
        return services;
    }
}
