using Beacon.Ingestion.Grpc.Wire;
using Google.Protobuf;
using Grpc.Core;

namespace Beacon.Ingestion.Grpc;

/// <summary>
/// Binds <c>beacon.v1.EventIngest</c> to <see cref="EventIngestService"/> as the generated <c>EventIngest.BindService</c>
/// would, but reads <c>Send</c> and <c>Stream</c> requests through <see cref="ReceivedMarshaller"/>. gRPC server
/// reflection finds <see cref="Descriptor"/> here through the service's <see cref="BindServiceMethodAttribute"/>.
/// </summary>
public static class EventIngestBinding
{
    private static readonly string ServiceName = Protos.V1.EventIngest.Descriptor.FullName;

    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Protos.V1.EventIngest.Descriptor;

    private static readonly Method<Received<Protos.V1.SendEventsRequest>, Protos.V1.SendEventsResponse> SendMethod = new(
        MethodType.Unary, ServiceName, "Send",
        ReceivedMarshaller.Create(Protos.V1.SendEventsRequest.Parser, m => m.Events, Protos.V1.SendEventsRequest.EventsFieldNumber),
        Plain(Protos.V1.SendEventsResponse.Parser));

    private static readonly Method<Received<Protos.V1.EventBatch>, Protos.V1.BatchAck> StreamMethod = new(
        MethodType.DuplexStreaming, ServiceName, "Stream",
        ReceivedMarshaller.Create(Protos.V1.EventBatch.Parser, m => m.Events, Protos.V1.EventBatch.EventsFieldNumber),
        Plain(Protos.V1.BatchAck.Parser));

    public static void BindService(ServiceBinderBase binder, EventIngestService service)
    {
        binder.AddMethod(SendMethod, service is null ? null : service.Send);
        binder.AddMethod(StreamMethod, service is null ? null : service.Stream);
    }

    private static Marshaller<T> Plain<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
