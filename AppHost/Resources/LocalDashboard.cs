namespace Beacon.AppHost.Resources;

/// <summary>
/// The Aspire dashboard of a local run: fixed addresses (UI :18888, OTLP :18889) over plain HTTP on localhost and
/// no sign-in, unless the environment says otherwise.
/// </summary>
internal static class LocalDashboard
{
    public static void ApplyDefaults()
    {
        SetDefault("ASPNETCORE_URLS", "http://localhost:18888");
        SetDefault("ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL", "http://localhost:18889");
        SetDefault("ASPIRE_ALLOW_UNSECURED_TRANSPORT", "true");
        SetDefault("ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS", "true");
    }

    private static void SetDefault(string variable, string value)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)))
        {
            Environment.SetEnvironmentVariable(variable, value);
        }
    }
}
