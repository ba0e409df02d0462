using System.Diagnostics;

namespace Beacon.AppHost.Resources;

/// <summary>
/// One-off commands a local server needs (<c>initdb</c>, single-user <c>CREATE DATABASE</c>, forming a Redis Cluster),
/// run as the <c>postgres</c> user when the AppHost runs as root (initdb refuses root).
/// </summary>
internal static class SetupCommand
{
    public static bool RunningAsRoot => Environment.UserName == "root";

    /// <summary>The command line that runs <paramref name="fileName"/> as <paramref name="user"/> when we are root (<c>setpriv</c> execs, so signals reach the server itself).</summary>
    public static (string FileName, string[] Arguments) As(string? user, string fileName, params string[] arguments) =>
        user is null || !RunningAsRoot
            ? (fileName, arguments)
            : ("setpriv", ["--reuid", user, "--regid", user, "--init-groups", "--", fileName, .. arguments]);

    /// <param name="environment">Variables added for the command, e.g. a password that must not be an argument (ps shows those).</param>
    public static async Task RunAsync(string? user, string fileName, IEnumerable<string> arguments, string? standardInput,
        CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (command, commandArguments) = As(user, fileName, [.. arguments]);
        var info = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
        };
        foreach (var argument in commandArguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
            process.StandardInput.Close();
        }
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(fileName)} failed ({process.ExitCode}): {await output}{await error}");
        }
    }
}
