namespace Beacon.Core.Catalog;

/// <summary>Which public API an event type belongs to; it decides the JSON names and the always-required fields.</summary>
public enum EventFamily
{
    /// <summary>Layers Tracking API (<c>POST /beacon</c>, gRPC): snake_case.</summary>
    Layers,
    /// <summary>Alana Shopping events API (<c>POST /api/v1/events</c>): camelCase.</summary>
    Alana,
}
