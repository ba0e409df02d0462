namespace Beacon.Core.Messaging;

/// <summary>
/// One configuration change announced on <see cref="ConfigChanges.Channel"/>: the message is written by
/// <see cref="ToString"/> and read by <see cref="ConfigChanges.Parse"/>, nowhere else.
/// </summary>
public abstract record ConfigChange
{
    private ConfigChange()
    {
    }

    /// <summary>A token was created, revoked or deleted (by the SHA-256 hex of its value).</summary>
    public sealed record Token(string Hash) : ConfigChange
    {
        public override string ToString() => $"{TokenPrefix}{Hash}";
    }

    /// <summary>A store's pipelines, settings or data controls changed.</summary>
    public sealed record Store(Guid StoreId) : ConfigChange
    {
        public override string ToString() => $"{StorePrefix}{StoreId}";
    }

    /// <summary>Anything may have changed (e.g. a restore): drop every cached entry.</summary>
    public sealed record Everything : ConfigChange
    {
        public static readonly Everything Instance = new();

        public override string ToString() => EverythingMessage;
    }

    internal const string TokenPrefix = "token:";
    internal const string StorePrefix = "store:";
    internal const string EverythingMessage = "all";
}
