using System.Security.Cryptography;
using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Secrets of a local run: the configured value when there is one, else the one kept from an earlier run, else a
/// new one. Whatever is in use is kept owner-only under the data directory, so a restart (and an operator's
/// <c>psql</c>/<c>redis-cli</c>) finds the same value.
/// </summary>
internal sealed class LocalSecrets(string dataDirectory)
{
    private readonly Dictionary<string, IResourceBuilder<ParameterResource>> _parameters = [];

    public string Get(string fileName, string? configured, Func<string> create)
    {
        var path = Path.Combine(dataDirectory, fileName);
        var value = !string.IsNullOrWhiteSpace(configured) ? configured.Trim()
            : File.Exists(path) ? File.ReadAllText(path).Trim()
            : create();
        File.WriteAllText(path, value);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return value;
    }

    /// <summary>
    /// A secret parameter that is always generated (a service's own password, which no operator types), kept in the
    /// file of its name; asked for again, the same parameter.
    /// </summary>
    public IResourceBuilder<ParameterResource> GeneratedParameter(IDistributedApplicationBuilder builder, string name)
    {
        if (!_parameters.TryGetValue(name, out var parameter))
        {
            parameter = builder.AddParameter(name, Get(name, null, () => Random(32)), secret: true);
            _parameters[name] = parameter;
        }
        return parameter;
    }

    /// <summary>Base64 of 32 random bytes: the form <c>Beacon:MasterKey</c> takes.</summary>
    public static string RandomKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static string Random(int length) =>
        RandomNumberGenerator.GetString("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", length);
}
