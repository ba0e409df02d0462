// The yardstick for the ingestion benchmark: Kestrel with one endpoint that reads the whole body and answers
// 204, no logging, no middleware. What Ingestion.Api adds on top of this is the cost of the ingestion path.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();

var app = builder.Build();

app.MapPost("/bare", async (HttpRequest request) =>
{
    var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
    try
    {
        while (await request.Body.ReadAsync(buffer) > 0)
        {
        }
    }
    finally
    {
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }
    return Results.NoContent();
});

app.Run();
