var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

// The worker serves only its health endpoints over HTTP.
app.MapDefaultEndpoints();

app.Run();
