using Beacon.Core.Hosting;

namespace Beacon.Admin.Extensions;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddBeaconRedis();
        builder.AddBeaconPostgres();
    }
}
