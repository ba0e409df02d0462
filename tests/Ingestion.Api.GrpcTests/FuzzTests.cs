using Beacon.Ingestion.GrpcTests.Infrastructure;
using Beacon.Load.Fuzz;
using Beacon.Protos.V1;
using Beacon.TestHost;
using Google.Protobuf;
using Grpc.Core;

namespace Beacon.Ingestion.GrpcTests;

/// <summary>
/// Thousands of malformed <c>SendEventsRequest</c>s (<see cref="BadBodies"/>: random bytes, wrong wire types, varint
/// overflows, truncated fields, groups, unknown fields, deep nesting) over a real HTTP/2 socket: never INTERNAL or
/// UNKNOWN, the server stays up, and every event it acknowledged is in the queue, readable by the worker's reader.
/// </summary>
public sealed class FuzzTests(GrpcServerFixture fixture) : IClassFixture<GrpcServerFixture>
{
    private const int Seed = 20251202;

    // The request's bytes as the fuzzer made them (the generated client would encode them canonically).
    private static readonly Method<byte[], SendEventsResponse> RawSend = new(
        MethodType.Unary, EventIngest.Descriptor.FullName, "Send",
        Marshallers.Create(bytes => bytes, bytes => bytes),
        Marshallers.Create((SendEventsResponse r) => r.ToByteArray(), SendEventsResponse.Parser.ParseFrom));

    [Fact]
    public async Task MalformedRequestsNeverFailInternallyAndEveryAcknowledgedEventIsReadable()
    {
        var store = await fixture.Backends.CreateStoreAsync(rateLimitPerMinute: 1_000_000, rateLimitPerIpPerMinute: 1_000_000);
        var invoker = fixture.Server.Channel.CreateCallInvoker();
        var options = new CallOptions(GrpcIngestionServer.TokenMetadata(store.Token));
        var failures = new List<string>();
        var statuses = new Dictionary<StatusCode, int>();
        long stored = 0;

        await Parallel.ForAsync(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (index, _) =>
        {
            // Each request depends on its index alone: a failure names the index that reproduces it.
            var body = BadBodies.Grpc(new Random(Seed + index), index);
            var status = StatusCode.OK;
            try
            {
                var response = await invoker.AsyncUnaryCall(RawSend, null, options, body);
                Interlocked.Add(ref stored, response.Accepted - response.Duplicates);
            }
            catch (RpcException ex)
            {
                status = ex.StatusCode;
            }
            lock (statuses)
            {
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                if (status is StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss or StatusCode.Unavailable)
                {
                    failures.Add($"{status} for request #{index}: {Convert.ToBase64String(body.AsSpan(0, Math.Min(200, body.Length)))}");
                }
            }
        });

        Assert.Empty(failures);
        Assert.True(statuses.GetValueOrDefault(StatusCode.OK) > 500, string.Join(", ", statuses));
        Assert.True(statuses.GetValueOrDefault(StatusCode.InvalidArgument) > 300, string.Join(", ", statuses));
        Assert.False(statuses.ContainsKey(StatusCode.ResourceExhausted), string.Join(", ", statuses));
        // Read as the worker reads the stream (QueueEntries.Read): an entry it cannot parse fails here, an event
        // acknowledged but not queued makes the counts differ.
        var queued = await QueuedEvents.OfStoreAsync(fixture.Backends.RedisConnectionString, store.StoreId);
        Assert.True(stored > 1000, $"{stored} events stored");
        Assert.Equal(stored, queued.Count);
        var health = await fixture.Server.Client.SendAsync(new SendEventsRequest { Events = { TestEvents.ProductView() } }, GrpcIngestionServer.TokenMetadata(store.Token));
        Assert.Equal(1u, health.Accepted);
    }
}
