namespace Beacon.Admin.Seeding;

/// <summary>The command-line verbs of Admin.Web; null when the arguments ask for the site itself.</summary>
public static class AdminCommands
{
    public static async Task<int?> TryRunAsync(WebApplication app, string[] args) => args switch
    {
        // The AppHost runs `migrate` first and waits for it.
        ["migrate", ..] => await MigrateCommand.RunAsync(app.Services, seedDev: args.Contains("--seed-dev")),
        ["create-operator", var email, ..] => await CreateOperatorCommand.RunAsync(app.Services, email, Console.In, Console.Out),
        ["create-operator"] => Usage(),
        _ => null,
    };

    private static int Usage()
    {
        Console.Error.WriteLine("usage: dotnet run --project Admin.Web -- create-operator EMAIL   (password from BEACON_OPERATOR_PASSWORD or stdin)");
        return 2;
    }
}
