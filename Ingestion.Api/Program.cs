using Beacon.Ingestion.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseOutputCache();
app.MapOpenApi();

app.MapBeaconApi();
app.MapAlanaEventsApi();
app.MapEventTypesApi();
app.MapBeaconSdk();

app.Run();
