using Beacon.Admin.Seeding;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

// `dotnet run --project Admin.Web -- migrate [--seed-dev]`: the AppHost runs this first and waits for it.
if (args is ["migrate", ..])
{
    return await MigrateCommand.RunAsync(app.Services, seedDev: args.Contains("--seed-dev"));
}

app.MapDefaultEndpoints();
app.MapGet("/", () => "Beacon Admin");

app.Run();
return 0;
