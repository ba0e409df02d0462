using System.Security.Cryptography;
using System.Text;

namespace Beacon.Core.Security;

/// <summary>
/// AES-256-GCM sealing of short strings: <c>enc:v1:</c> + base64(nonce | ciphertext | tag). The purpose is the
/// associated data as well as the key's derivation input, so a value sealed for one use does not open for another.
/// </summary>
public sealed class SecretBox
{
    public const string Prefix = "enc:v1:";
    private const int NonceLength = 12;
    private const int TagLength = 16;

    private readonly byte[] _key;
    private readonly byte[] _associatedData;

    public SecretBox(MasterKey masterKey, string purpose)
    {
        _key = masterKey.Derive(purpose);
        _associatedData = Encoding.UTF8.GetBytes(purpose);
    }

    public static bool IsSealed(string value) => value.StartsWith(Prefix, StringComparison.Ordinal);

    public string Seal(string plaintext)
    {
        var data = Encoding.UTF8.GetBytes(plaintext);
        var sealedBytes = new byte[NonceLength + data.Length + TagLength];
        var nonce = sealedBytes.AsSpan(0, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagLength);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(NonceLength, data.Length), sealedBytes.AsSpan(NonceLength + data.Length), _associatedData);
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    /// <exception cref="CryptographicException">Not sealed, tampered with, or sealed under another key or purpose.</exception>
    public string Open(string sealedValue)
    {
        if (!IsSealed(sealedValue))
        {
            throw new CryptographicException("The value is not sealed.");
        }
        byte[] sealedBytes;
        try
        {
            sealedBytes = Convert.FromBase64String(sealedValue[Prefix.Length..]);
        }
        catch (FormatException ex)
        {
            throw new CryptographicException("The sealed value is not base64.", ex);
        }
        if (sealedBytes.Length < NonceLength + TagLength)
        {
            throw new CryptographicException("The sealed value is too short.");
        }
        var length = sealedBytes.Length - NonceLength - TagLength;
        var data = new byte[length];
        using var aes = new AesGcm(_key, TagLength);
        aes.Decrypt(sealedBytes.AsSpan(0, NonceLength), sealedBytes.AsSpan(NonceLength, length),
            sealedBytes.AsSpan(NonceLength + length), data, _associatedData);
        return Encoding.UTF8.GetString(data);
    }
}
