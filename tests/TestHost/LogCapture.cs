using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Beacon.TestHost;

/// <summary>
/// Keeps what a service logs, so a test can wait for a sign that the server reached a point it cannot observe
/// otherwise (e.g. Kestrel's "received FIN" when a client closed its socket).
/// </summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _messages = new();

    /// <summary>How many messages so far contain <paramref name="text"/>.</summary>
    public int Count(string text) => _messages.Count(m => m.Contains(text, StringComparison.Ordinal));

    /// <summary>Waits until more than <paramref name="before"/> messages contain <paramref name="text"/>.</summary>
    public async Task WaitForAsync(string text, int before = 0, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (Count(text) <= before)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Nothing logged '{text}' within {timeout ?? TimeSpan.FromSeconds(30)}.");
            }
            await Task.Delay(10);
        }
    }

    /// <summary>Everything logged so far, one message a line: for a failing assertion's message.</summary>
    public override string ToString() => string.Join('\n', _messages);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture._messages.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }
}
