using System.Security.Cryptography;
using System.Text;
using Beacon.Core.Security;

namespace Beacon.Core.Delivery;

/// <summary>
/// Standard Webhooks signatures: <c>v1,</c> + base64 HMAC-SHA256 of <c>{webhook-id}.{webhook-timestamp}.{body}</c>
/// keyed with the decoded <c>whsec_</c> secret. During a rotation the header carries one signature per active
/// secret, separated by a space, so receivers verifying with either secret accept the message.
/// </summary>
public static class WebhookSigner
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    /// <summary>One <c>v1,&lt;base64&gt;</c> signature of a message.</summary>
    public static string Sign(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        var mac = HMACSHA256.HashData(WebhookSecret.KeyOf(secret), signed);
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>
    /// The <c>webhook-signature</c> header value: the current secret's signature, followed by the previous
    /// secret's while it has not expired at <paramref name="now"/>.
    /// </summary>
    public static string SignatureHeaderValue(
        WebhookSecrets secrets, string messageId, long timestamp, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        var current = Sign(secrets.Secret, messageId, timestamp, body);
        return secrets.PreviousIsActive(now)
            ? current + " " + Sign(secrets.PreviousSecret!, messageId, timestamp, body)
            : current;
    }
}

/// <summary>
/// The signing secrets of a pipeline, opened: the current one and, during a rotation, the previous one
/// (<see cref="WebhookSecretProtector.SecretsOf"/>).
/// </summary>
public sealed record WebhookSecrets(string Secret, string? PreviousSecret = null, DateTimeOffset? PreviousSecretExpiresAt = null)
{
    public bool PreviousIsActive(DateTimeOffset now) =>
        !string.IsNullOrEmpty(PreviousSecret) && (PreviousSecretExpiresAt is null || PreviousSecretExpiresAt > now);
}
