using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Postgres from the machine's binaries (no container runtime here), data under <c>.beacon/postgres</c>,
/// password authentication for every connection. Runs as the <c>postgres</c> user when the AppHost is root.
/// </summary>
internal sealed class PostgresServerResource(string name, string command, string workingDirectory, int port, ParameterResource password, string database)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string AdminUser = "postgres";

    public string DataDirectory => WorkingDirectory;
    public int Port => port;
    public ParameterResource Password => password;
    public string Database => database;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"Host=127.0.0.1;Port={port.ToString()};Username={AdminUser};Password={password};Database={database}");

    /// <summary>The postmaster's pid, from its own pid file (the process DCP started may be a wrapper).</summary>
    public int? PostmasterPid()
    {
        var pidFile = Path.Combine(WorkingDirectory, "postmaster.pid");
        try
        {
            return File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
