using Beacon.Protos.V1;

namespace Beacon.GrpcClient;

/// <summary>
/// The app's outbox: every event goes here first and leaves only when the server acked the batch that carried it.
/// This sample keeps it in memory; an app keeps the same thing on disk (SQLite, Core Data, Room) so that events
/// survive the app being killed while offline.
/// </summary>
/// <remarks>
/// The event id is fixed when an event enters the buffer. Sending it again after a dropped connection therefore
/// cannot store it twice: the server remembers ids for 24 h and acks a repeat as a duplicate.
/// </remarks>
public sealed class OfflineEventBuffer
{
    private readonly object _gate = new();
    private readonly LinkedList<Event> _waiting = new();
    private int _inFlight;
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>Events not yet acked: waiting to be sent, or sent and waiting for their ack.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count + _inFlight;
            }
        }
    }

    public void Add(Event e)
    {
        if (e.EventId.Length == 0)
        {
            e.EventId = Guid.CreateVersion7().ToString();
        }
        lock (_gate)
        {
            _waiting.AddLast(e);
            Signal();
        }
    }

    /// <summary>Waits until events are waiting, then takes up to <paramref name="max"/> of them (oldest first).</summary>
    public async Task<List<Event>> TakeAsync(int max, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_waiting.Count > 0)
                {
                    var batch = new List<Event>(Math.Min(max, _waiting.Count));
                    while (batch.Count < max && _waiting.First is { } first)
                    {
                        batch.Add(first.Value);
                        _waiting.RemoveFirst();
                    }
                    _inFlight += batch.Count;
                    return batch;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>The server acked these (stored, already stored, or rejected for good): forget them.</summary>
    public void Acknowledge(IReadOnlyCollection<Event> batch)
    {
        lock (_gate)
        {
            _inFlight -= batch.Count;
            Signal();
        }
    }

    /// <summary>The connection dropped before these were acked: put them back in front, in their order, to send again.</summary>
    public void Return(IReadOnlyList<Event> batch)
    {
        lock (_gate)
        {
            for (var i = batch.Count - 1; i >= 0; i--)
            {
                _waiting.AddFirst(batch[i]);
            }
            _inFlight -= batch.Count;
            Signal();
        }
    }

    /// <summary>Completes when every event added so far has been acked.</summary>
    public async Task WaitUntilEmptyAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_waiting.Count == 0 && _inFlight == 0)
                {
                    return;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
