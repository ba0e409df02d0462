using System.Xml.Linq;
using Beacon.Core.Security;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;

namespace Beacon.Admin.Security;

/// <summary>
/// Encrypts each Data Protection key before it is written to Redis: the key XML (which holds the
/// <c>&lt;masterKey&gt;</c> that signs cookies, antiforgery tokens and invitation links) is sealed with AES-GCM
/// under a key derived from <see cref="MasterKey"/>. Redis is shared with the internet-facing ingestion service;
/// whoever reads it gets ciphertext and cannot mint an admin cookie without the master key.
/// </summary>
public sealed class MasterKeyXmlEncryptor(MasterKey masterKey) : IXmlEncryptor
{
    internal const string Purpose = "beacon:dataprotection-key:v1";
    internal const string ValueElement = "sealed";

    private readonly SecretBox _box = new(masterKey, Purpose);

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var element = new XElement("encryptedKey",
            new XComment(" Sealed with AES-256-GCM under a key derived from Beacon:MasterKey. "),
            new XElement(ValueElement, _box.Seal(plaintextElement.ToString(SaveOptions.DisableFormatting))));
        return new EncryptedXmlInfo(element, typeof(MasterKeyXmlDecryptor));
    }
}

/// <summary>
/// Opens keys sealed by <see cref="MasterKeyXmlEncryptor"/>. Data Protection creates decryptors by the type name
/// stored with each key, through a constructor taking the <see cref="IServiceProvider"/>.
/// </summary>
public sealed class MasterKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    private readonly SecretBox _box = new(services.GetRequiredService<MasterKey>(), MasterKeyXmlEncryptor.Purpose);

    public XElement Decrypt(XElement encryptedElement) =>
        XElement.Parse(_box.Open(encryptedElement.Element(MasterKeyXmlEncryptor.ValueElement)?.Value
            ?? throw new InvalidOperationException("The encrypted Data Protection key has no sealed value.")));
}
