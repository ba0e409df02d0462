using Beacon.Core.Security;
using Beacon.Core.Delivery;

namespace Beacon.TestHost;

/// <summary>
/// The master key every service under test is given (<see cref="Backends.ServiceConfiguration"/>), so tests can
/// seal the webhook secrets they write straight to the database and open the ones services wrote.
/// </summary>
public static class TestSecrets
{
    public const string MasterKeyBase64 = "dGVzdC1tYXN0ZXIta2V5LW9mLWJlYWNvbi10ZXN0cyE=";

    public static WebhookSecretProtector Protector { get; } = new(new MasterKey(Convert.FromBase64String(MasterKeyBase64)));
}
