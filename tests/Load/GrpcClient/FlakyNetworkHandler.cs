using System.Net;

namespace Beacon.GrpcClient;

/// <summary>
/// Simulates a phone losing its connection: <see cref="DropConnections"/> breaks every call in progress mid-stream,
/// as a tunnel or a Wi-Fi hand-over would. The demo and the tests use it to show that the sender resumes without
/// losing or duplicating events; an app has no such handler.
/// </summary>
public sealed class FlakyNetworkHandler() : DelegatingHandler(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
{
    private readonly object _gate = new();
    private CancellationTokenSource _network = new();

    public int Drops { get; private set; }

    public void DropConnections()
    {
        CancellationTokenSource dropped;
        lock (_gate)
        {
            dropped = _network;
            _network = new CancellationTokenSource();
            Drops++;
        }
        dropped.Cancel();
        dropped.Dispose();
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        CancellationToken network;
        lock (_gate)
        {
            network = _network.Token;
        }
        var response = await base.SendAsync(request, cancellationToken);
        // The response body is where a streaming call lives after its headers: break it there.
        response.Content = new DroppableContent(response.Content, network);
        return response;
    }

    private sealed class DroppableContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly CancellationToken _network;

        public DroppableContent(HttpContent inner, CancellationToken network)
        {
            _inner = inner;
            _network = network;
            foreach (var header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync() =>
            new DroppableStream(await _inner.ReadAsStreamAsync(), _network);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await (await CreateContentReadStreamAsync()).CopyToAsync(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class DroppableStream : Stream
    {
        private readonly Stream _inner;
        private readonly CancellationToken _network;
        private readonly CancellationTokenRegistration _drop;

        public DroppableStream(Stream inner, CancellationToken network)
        {
            _inner = inner;
            _network = network;
            // Disposing an HTTP/2 response stream resets it, so the server sees the call end as well.
            _drop = network.Register(static s => ((Stream)s!).Dispose(), inner);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _network);
                return await _inner.ReadAsync(buffer, linked.Token);
            }
            catch (Exception ex) when (_network.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException or IOException)
            {
                throw new IOException("The network connection was lost.", ex);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _drop.Dispose();
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
