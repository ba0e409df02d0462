using System.Buffers;
using Google.Protobuf;

namespace Beacon.Ingestion.Grpc.Wire;

/// <summary>
/// A request message as it arrived: <see cref="EventBytes"/> holds the bytes of each of its events (in order) and
/// <see cref="Message"/> the rest of the message, without its events. The door reads each event from its bytes
/// (<see cref="WireEvent"/>) and the queue carries those bytes instead of the event encoded again.
/// </summary>
public sealed class Received<T>(T message, ReadOnlyMemory<byte>[] eventBytes, byte[]? pooled) where T : IMessage<T>
{
    private byte[]? _pooled = pooled;

    public T Message { get; } = message;

    public int EventCount { get; } = eventBytes.Length;

    public ReadOnlyMemory<byte>[] EventBytes { get; private set; } = eventBytes;

    /// <summary>
    /// Gives the pooled buffer behind <see cref="EventBytes"/> back once nothing reads them any more (the ingestion
    /// path has copied them into the queue's bytes). Not calling it only leaves the buffer to the GC.
    /// </summary>
    public void Release()
    {
        EventBytes = [];
        if (Interlocked.Exchange(ref _pooled, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
