using Beacon.Core.Hosting;

namespace Beacon.Ingestion.Extensions;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();
    }
}
