using System.Diagnostics;

namespace Beacon.TestHost;

/// <summary>Runs a command to completion and fails with its output when it exits non-zero.</summary>
internal static class ExternalProcess
{
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish in {timeout}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode}: {await stdout}{await stderr}");
        }
        return await stdout;
    }

    /// <summary>Wraps a command so it runs as <paramref name="user"/> when we are root (postgres refuses root).</summary>
    public static (string FileName, List<string> Arguments) AsUser(string user, string fileName, IEnumerable<string> arguments)
    {
        if (Environment.UserName == "root")
        {
            return ("runuser", ["-u", user, "--", fileName, .. arguments]);
        }
        return (fileName, arguments.ToList());
    }
}
