using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Beacon.Core.Security;

/// <summary>
/// The deployment's master secret: 32 random bytes, base64, from <c>Beacon:MasterKey</c> or from the file named by
/// <c>Beacon:MasterKeyFile</c> (a mounted secret). Only Admin.Web and the worker are given it; each use derives its
/// own key (HKDF-SHA256 with a purpose), so webhook secrets and the Data Protection key ring never share a key.
/// It lives outside Postgres and Redis on purpose: a dump of either holds only what this key seals.
/// </summary>
public sealed class MasterKey
{
    public const string ConfigurationKey = "Beacon:MasterKey";
    public const string FileConfigurationKey = "Beacon:MasterKeyFile";
    private const int KeyLength = 32;

    private readonly byte[] _key;

    public MasterKey(byte[] key)
    {
        if (key.Length < KeyLength)
        {
            throw new ArgumentException($"A master key has at least {KeyLength} bytes.", nameof(key));
        }
        _key = key;
    }

    public static string Generate() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyLength));

    public static MasterKey FromConfiguration(IConfiguration configuration)
    {
        var value = configuration[ConfigurationKey];
        if (string.IsNullOrWhiteSpace(value) && configuration[FileConfigurationKey] is { Length: > 0 } path)
        {
            value = File.ReadAllText(path);
        }
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidOperationException(
                $"No master key: set {ConfigurationKey} (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or {FileConfigurationKey} " +
                "(a file holding one). Webhook secrets and the Data Protection key ring are encrypted with it.");
        }
        try
        {
            return new MasterKey(Convert.FromBase64String(value.Trim()));
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw new InvalidOperationException($"{ConfigurationKey} must be base64 of at least {KeyLength} random bytes.", ex);
        }
    }

    /// <summary>A 256-bit key for one purpose; the same purpose always gives the same key.</summary>
    public byte[] Derive(string purpose) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, KeyLength, salt: [], info: Encoding.UTF8.GetBytes(purpose));
}

/// <summary>Reads the master key as the host starts, so a missing or malformed one stops the service with its reason.</summary>
internal sealed class MasterKeyCheck(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<MasterKey>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
