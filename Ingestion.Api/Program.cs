using Beacon.Ingestion.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.AddGrpcIngestion();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcIngestion();

app.Run();
