using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;

namespace Beacon.Ingestion.Apis;

/// <summary>
/// Keeps what a client sent readable after it closed its side of the connection (TCP FIN), e.g. a browser that sent a
/// whole <c>sendBeacon</c> body and shut down at once. Kestrel refuses to read a request body once the connection's
/// input has completed, even when every byte of it is already buffered ("Unexpected end of request content"); this
/// connection middleware reports the end of the input only after Kestrel has looked at everything that came before it.
/// The client is still seen to go away (<c>RequestAborted</c> fires and the answer is not sent): only its bytes stay.
/// </summary>
public static class HalfClosedConnections
{
    public static ConnectionDelegate KeepInputReadable(ConnectionDelegate next) => connection =>
    {
        var transport = connection.Transport;
        connection.Transport = new DuplexPipe(new ReadToTheEnd(transport.Input), transport.Output);
        return next(connection);
    };

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    // Completion is reported only once the consumer has examined the last bytes: until then the result is data, as
    // it would be on a connection still open. A consumer that examined everything gets the completion at once.
    private sealed class ReadToTheEnd(PipeReader inner) : PipeReader
    {
        private ReadOnlySequence<byte> _buffer;
        private bool _examinedAll;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = inner.ReadAsync(cancellationToken);
            return read.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Report(read.Result)) : ReportAsync(read);
        }

        // Every keep-alive connection waits here for its next request: the waits reuse pooled state machines.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> ReportAsync(ValueTask<ReadResult> read) => Report(await read);

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }
            result = Report(result);
            return true;
        }

        private ReadResult Report(ReadResult result)
        {
            _buffer = result.Buffer;
            return result.IsCompleted && !result.Buffer.IsEmpty && !_examinedAll
                ? new ReadResult(result.Buffer, result.IsCanceled, isCompleted: false)
                : result;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _examinedAll = _buffer.Slice(examined).IsEmpty;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
