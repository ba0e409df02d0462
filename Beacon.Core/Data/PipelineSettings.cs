using System.Globalization;

namespace Beacon.Core.Data;

/// <summary>
/// The keys of <see cref="Pipeline.Settings"/> Admin.Web writes and the worker reads: <c>batchSize</c> (events per
/// delivery) and <c>lingerMs</c> (how long a batch waits to fill). Absent, the worker's defaults for the kind apply.
/// </summary>
public static class PipelineSettings
{
    public const string BatchSize = "batchSize";
    public const string LingerMs = "lingerMs";

    public const int MaxWebhookBatchSize = 100;
    public const int MaxPostgresBatchSize = 10_000;
    public const int MaxLingerMs = 60_000;

    public static int MaxBatchSizeOf(string kind) => kind == PipelineKinds.Postgres ? MaxPostgresBatchSize : MaxWebhookBatchSize;

    public static int? BatchSizeOf(Pipeline pipeline) => IntOf(pipeline, BatchSize);

    public static int? LingerMsOf(Pipeline pipeline) => IntOf(pipeline, LingerMs);

    /// <summary>Writes the settings (null removes one, so the worker's default applies again).</summary>
    public static void Set(Pipeline pipeline, int? batchSize, int? lingerMs)
    {
        var settings = new Dictionary<string, string>(pipeline.Settings);
        SetOne(settings, BatchSize, batchSize);
        SetOne(settings, LingerMs, lingerMs);
        // A new dictionary: EF then sees the jsonb column as changed.
        pipeline.Settings = settings;
    }

    private static void SetOne(Dictionary<string, string> settings, string key, int? value)
    {
        if (value is { } v)
        {
            settings[key] = v.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            settings.Remove(key);
        }
    }

    private static int? IntOf(Pipeline pipeline, string key) =>
        pipeline.Settings.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
}
