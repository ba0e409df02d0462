using System.Threading.Channels;

namespace Beacon.Ingestion.Queueing;

/// <summary>
/// Group commit of Redis calls: requests add an item and wait on it; one loop takes everything that arrived meanwhile
/// (up to <c>maxWeight</c>) and hands the group to <c>send</c>, with at most <c>concurrency</c> groups in flight.
/// Under load one round trip carries many requests; when idle an item goes out at once.
/// </summary>
/// <remarks>
/// <c>send</c> completes every item of its group itself, whatever happens (none may hang or be told "done" wrongly);
/// the group's slot is free again when the task it returns ends.
/// </remarks>
internal static class GroupCommit
{
    /// <summary>
    /// Sends each key's items of a group as one call, the calls at once; a single call when they all share a key (the
    /// usual case: one store, one token).
    /// </summary>
    public static Task SendByAsync<T, TKey>(T[] items, Func<T, TKey> keyOf, Func<T[], Task> send)
    {
        var first = keyOf(items[0]);
        return Array.TrueForAll(items, item => EqualityComparer<TKey>.Default.Equals(keyOf(item), first))
            ? send(items)
            : Task.WhenAll(items.GroupBy(keyOf).Select(same => send([.. same])));
    }
}

internal sealed class GroupCommit<T> : IAsyncDisposable
{
    private readonly Func<T[], Task> _send;
    private readonly Func<T, int> _weight;
    private readonly int _maxWeight;
    private readonly int _concurrency;
    private readonly SemaphoreSlim _inFlight;
    private readonly Channel<T> _pending = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public GroupCommit(Func<T[], Task> send, int concurrency, Func<T, int>? weight = null, int maxWeight = int.MaxValue)
    {
        _send = send;
        _weight = weight ?? (_ => 1);
        _maxWeight = maxWeight;
        _concurrency = Math.Max(1, concurrency);
        _inFlight = new SemaphoreSlim(_concurrency);
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>False once disposal began: the caller must fail its item itself.</summary>
    public bool TryAdd(T item) => _pending.Writer.TryWrite(item);

    private async Task WriteLoopAsync()
    {
        var reader = _pending.Reader;
        var group = new List<T>();
        while (await reader.WaitToReadAsync())
        {
            // Waiting for a free slot first lets requests pile up meanwhile: that is what makes groups under load.
            await _inFlight.WaitAsync();
            var weight = 0;
            while (weight < _maxWeight && reader.TryRead(out var item))
            {
                group.Add(item);
                weight += _weight(item);
            }
            if (group.Count == 0)
            {
                _inFlight.Release();
                continue;
            }
            _ = SendAsync([.. group]);
            group.Clear();
        }
    }

    private async Task SendAsync(T[] group)
    {
        try
        {
            await _send(group);
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>Sends what is queued and waits (a few seconds at most) for the calls in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _writer;
        for (var i = 0; i < _concurrency; i++)
        {
            if (!await _inFlight.WaitAsync(TimeSpan.FromSeconds(5)))
            {
                break;
            }
        }
    }
}
