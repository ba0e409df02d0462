using Beacon.Protos.V1;

namespace Beacon.Core.Catalog;

/// <summary>A required catalog field with its presence check on a parsed event and its protobuf field number.</summary>
public sealed record EventRequirement(EventField Field, Func<Event, bool> IsPresentIn, int FieldNumber);
