namespace Beacon.Ingestion.Enrichment;

/// <summary>
/// What the server sets on an accepted event the client left unset, decided once for every door by
/// <see cref="EventEnricher.DefaultsOf"/> and written after the event's own encoding (the queue's
/// <c>EncodedBatch</c>; protobuf reads a field's last value): a UUIDv7 <c>event_id</c>, the inferred
/// <c>shopping_channel</c>, an empty <c>contextual_data</c>. Null or false: the event keeps its own.
/// </summary>
public readonly record struct EventDefaults(Guid? ServerEventId, string? ShoppingChannel, bool EmptyContextualData);
