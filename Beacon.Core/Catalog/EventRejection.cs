namespace Beacon.Core.Catalog;

/// <summary>
/// Why the event at <see cref="Index"/> (0-based) was dropped. <see cref="Reason"/> is a sentence for people
/// (e.g. <c>missing required field 'product_id'</c>), the same for every door; <see cref="Code"/> is a
/// low-cardinality tag for metrics.
/// </summary>
public sealed record EventRejection(int Index, string Code, string Reason)
{
    public EventRejection WithIndex(int index) => index == Index ? this : this with { Index = index };
}
