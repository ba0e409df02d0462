using System.Diagnostics;
using Beacon.TestHost;

namespace Beacon.Bench;

internal static class Tool
{
    /// <summary>Runs a tool to its end and returns what it printed; a failure is an exception with its output.</summary>
    public static async Task<string> RunAsync(ProcessStartInfo info, CancellationToken cancellationToken)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info)!;
        ProcessReaper.Track(process.Id);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{info.FileName} exited with {process.ExitCode}: {await output}{await error}");
            }
            return await output;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            ProcessReaper.Untrack(process.Id);
        }
    }
}
