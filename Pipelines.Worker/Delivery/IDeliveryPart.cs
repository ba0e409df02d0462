namespace Beacon.Worker.Delivery;

/// <summary>
/// What a lane reports about the events it was handed: delivered or durably parked (<see cref="PartDone"/>), or
/// neither (<see cref="PartAbandoned"/>, e.g. Postgres down while parking). Delivery owns this contract; whoever
/// feeds a lane (the stream consumer) implements it, so delivery never reaches back into consumption.
/// </summary>
public interface IDeliveryPart
{
    void PartDone();

    void PartAbandoned();
}
