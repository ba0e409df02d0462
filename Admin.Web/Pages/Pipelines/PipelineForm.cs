using Beacon.Admin.Management;
using Beacon.Core.Data;

namespace Beacon.Admin.Pages.Pipelines;

/// <summary>The create/edit form of a pipeline (bound from the page, turned into a <see cref="PipelineInput"/>).</summary>
public sealed class PipelineForm
{
    public string? Name { get; set; }
    public string Kind { get; set; } = PipelineKinds.Webhook;
    public string? Url { get; set; }
    public List<string> EventTypes { get; set; } = [];
    public bool Enabled { get; set; } = true;
    public int? BatchSize { get; set; }
    public int? LingerMs { get; set; }
    /// <summary>Required consent categories, separated by commas or spaces.</summary>
    public string? RequiredConsent { get; set; }
    /// <summary>Identifier fields delivered hashed (the checked boxes).</summary>
    public List<string> HashFields { get; set; } = [];

    public PipelineInput ToInput() => new(Name ?? "", Kind, Url, EventTypes, Enabled, BatchSize, LingerMs, TokenService.ParseOrigins(RequiredConsent), HashFields);

    public static PipelineForm Of(Pipeline p) => new()
    {
        Name = p.Name,
        Kind = p.Kind,
        Url = p.Url,
        EventTypes = p.EventTypes,
        Enabled = p.Enabled,
        BatchSize = PipelineSettings.BatchSizeOf(p),
        LingerMs = PipelineSettings.LingerMsOf(p),
        RequiredConsent = string.Join(", ", p.RequiredConsent),
        HashFields = p.HashFields,
    };
}
