using Beacon.Core.Hosting;

namespace Beacon.Worker.Extensions;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();
    }
}
