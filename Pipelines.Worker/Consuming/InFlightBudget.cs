namespace Beacon.Worker.Consuming;

/// <summary>
/// How much a worker holds read but not yet acked: at most <see cref="WorkerOptions.MaxInFlightEntries"/> entries and
/// <see cref="WorkerOptions.MaxInFlightEvents"/> events; reading waits for room. The events bound the memory of a
/// worker that delivers slower than it reads (parsed, a 100-event entry is ~100 KB; 20,000 of them held 1.8 GB), and
/// what waits stays in the stream, where it is durable and another worker can take it.
/// </summary>
public sealed class InFlightBudget(int maxEntries, int maxEvents)
{
    private readonly Lock _lock = new();
    private int _entries;
    private int _events;
    private TaskCompletionSource _room = NewRoom();

    /// <summary>Takes room for one entry of <paramref name="events"/> events; an entry larger than the whole budget goes alone.</summary>
    public async ValueTask TakeAsync(int events, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_lock)
            {
                if (_entries == 0 || (_entries < maxEntries && _events + events <= maxEvents))
                {
                    _entries++;
                    _events += events;
                    return;
                }
                room = _room.Task;
            }
            await room.WaitAsync(cancellationToken);
        }
    }

    public void Return(int events)
    {
        TaskCompletionSource room;
        lock (_lock)
        {
            _entries--;
            _events -= events;
            room = _room;
            _room = NewRoom();
        }
        room.TrySetResult();
    }

    private static TaskCompletionSource NewRoom() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
