using Beacon.Admin.Apis;
using Beacon.Admin.Seeding;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

// `migrate [--seed-dev]` and `create-operator EMAIL` run and exit instead of serving.
if (await AdminCommands.TryRunAsync(app, args) is { } exitCode)
{
    return exitCode;
}

app.UseAdminPipeline();

app.MapDefaultEndpoints();
app.MapRazorPages();
app.MapManagementApi();
app.MapOpenApi();

app.Run();
return 0;
