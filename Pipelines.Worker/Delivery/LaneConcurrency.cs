namespace Beacon.Worker.Delivery;

/// <summary>How a finished batch moves its lane's concurrency.</summary>
public enum LaneSignal
{
    /// <summary>Delivered while events waited behind it: one more batch at once, up to the destination's ceiling.</summary>
    Grow,
    /// <summary>The destination asked for a retry (5xx, 429, timeout, refused connection): half as many.</summary>
    Shrink,
    /// <summary>Nothing waited: one step back towards the configured start.</summary>
    Settle,
}

/// <summary>
/// How many batches a lane has in flight: additive increase, multiplicative decrease, as TCP does. A lane starts at
/// <see cref="WorkerOptions.MaxConcurrentBatchesPerPipeline"/>; while events wait behind full batches and the
/// destination answers, each delivered batch lets one more run at once, up to the destination's ceiling; a batch the
/// destination asks to retry halves it (never below one). So a receiver that keeps up is sent what the doors take, and
/// one that struggles is sent less. One waiter (the lane's reader), any number of releasers.
/// </summary>
public sealed class LaneConcurrency(int initial)
{
    private readonly Lock _lock = new();
    private readonly int _initial = Math.Max(1, initial);
    private int _limit = Math.Max(1, initial);
    private int _inFlight;
    private TaskCompletionSource? _room;

    public int Limit
    {
        get
        {
            lock (_lock)
            {
                return _limit;
            }
        }
    }

    /// <summary>Returns once a batch may start (fewer than <see cref="Limit"/> in flight), counting it as started.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_lock)
            {
                if (_inFlight < _limit)
                {
                    _inFlight++;
                    return;
                }
                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }
            await room.WaitAsync(cancellationToken);
        }
    }

    /// <summary>A started batch ended; <paramref name="ceiling"/> is its destination's most batches at once.</summary>
    public void Release(LaneSignal signal, int ceiling)
    {
        TaskCompletionSource? room = null;
        lock (_lock)
        {
            _inFlight--;
            _limit = signal switch
            {
                LaneSignal.Grow => Math.Min(Math.Max(ceiling, _initial), _limit + 1),
                LaneSignal.Shrink => Math.Max(1, _limit / 2),
                _ => _limit > _initial ? _limit - 1 : _limit < _initial ? _limit + 1 : _limit,
            };
            if (_inFlight < _limit)
            {
                (room, _room) = (_room, null);
            }
        }
        room?.TrySetResult();
    }
}
