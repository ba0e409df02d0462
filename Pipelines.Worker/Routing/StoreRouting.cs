using Beacon.Core.Data;
using Beacon.Core.Privacy;

namespace Beacon.Worker.Routing;

/// <summary>What the worker needs to route a store's events: its enabled pipelines and its deletion rules.</summary>
public sealed record StoreRouting(IReadOnlyList<Pipeline> Pipelines, IReadOnlyList<DeletionRule> Deletions);
