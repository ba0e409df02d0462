using Beacon.Ingestion.Apis;
using Beacon.Ingestion.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.AddGrpcIngestion();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseOutputCache();
app.MapOpenApi();

app.MapBeaconApi();
app.MapAlanaEventsApi();
app.MapEventTypesApi();
app.MapBeaconSdk();
app.MapGrpcIngestion();

app.Run();
