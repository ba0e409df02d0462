using Beacon.TestHost;
using Microsoft.EntityFrameworkCore;

namespace Beacon.AppHost.Tests;

[Collection(nameof(WholeSystemTests))]
public sealed class ExistingServersTests
{
    [Fact]
    public async Task ConnectionStringsGivenToTheAppHostReplaceTheLocalServers()
    {
        var backends = await Backends.GetAsync();
        var dataDirectory = BeaconAppHost.NewDataDirectory();
        await using (var system = await BeaconAppHost.StartAsync(dataDirectory, BeaconAppHost.PortSet.Free(),
            "--ConnectionStrings:beacondb", backends.PostgresConnectionString,
            "--ConnectionStrings:redis", backends.RedisConnectionString))
        {
            Assert.False(Directory.Exists(Path.Combine(dataDirectory, "postgres")), "a local Postgres was started");
            Assert.False(Directory.Exists(Path.Combine(dataDirectory, "redis")), "a local Redis was started");
            await using var db = backends.CreateDbContext();
            Assert.True(await db.Stores.AnyAsync(s => s.Name == "Dev Store"), "the dev seed went elsewhere");
            await system.StopAsync();
        }
        Directory.Delete(dataDirectory, recursive: true);
    }
}
