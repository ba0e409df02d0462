using Beacon.Worker.Delivery;
using StackExchange.Redis;

namespace Beacon.Worker.Consuming;

/// <summary>
/// A stream entry being worked on. It is split into one part per matching pipeline (and batch); the entry
/// is acked when every part is delivered or parked durably. A part that could be neither (e.g. Postgres down
/// while parking) abandons the entry: it stays pending in the group and is reclaimed later.
/// </summary>
public sealed class InFlightEntry(string stream, RedisValue id, Action<InFlightEntry, bool> completed) : IDeliveryPart
{
    // Starts at one: the dispatcher's own hold, released once every part has been handed out.
    private int _remaining = 1;
    private int _abandoned;

    public string Stream { get; } = stream;
    public RedisValue Id { get; } = id;

    public void AddPart() => Interlocked.Increment(ref _remaining);

    public void PartDone()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            completed(this, Volatile.Read(ref _abandoned) == 0);
        }
    }

    public void PartAbandoned()
    {
        Interlocked.Exchange(ref _abandoned, 1);
        PartDone();
    }
}
