using System.Diagnostics;

namespace Beacon.AppHost.Tests;

/// <summary>
/// A small tmpfs mounted over a directory: a filesystem a test can fill. Mounting needs root (or CAP_SYS_ADMIN); where
/// it is not allowed, <see cref="Refusal"/> says why and the tests that need it are skipped (<see cref="TmpfsFactAttribute"/>).
/// </summary>
internal static class Tmpfs
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        var directory = Directory.CreateTempSubdirectory("beacon-tmpfs-probe-").FullName;
        try
        {
            if (Mount(directory, "1M") is { } refusal)
            {
                return refusal;
            }
            Unmount(directory);
            return null;
        }
        finally
        {
            Directory.Delete(directory);
        }
    });

    /// <summary>Null when this process may mount a tmpfs; otherwise what <c>mount</c> answered.</summary>
    public static string? Refusal => Probe.Value;

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (<c>64M</c>) over <paramref name="directory"/>; null, or why not.</summary>
    public static string? Mount(string directory, string size)
    {
        Directory.CreateDirectory(directory);
        var (exitCode, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "tmpfs", directory);
        return exitCode == 0 ? null : $"mount -t tmpfs exited with {exitCode}: {output.Trim()}";
    }

    /// <summary>Unmounts, lazily if something still holds a file open there (it is detached now, freed when closed).</summary>
    public static void Unmount(string directory)
    {
        if (Run("umount", directory).ExitCode != 0)
        {
            Run("umount", "-l", directory);
        }
    }

    /// <summary>Writes zeros to <paramref name="path"/> until the filesystem has no space left; how many bytes.</summary>
    public static long Fill(string path)
    {
        var chunk = new byte[1 << 20];
        long written = 0;
        // Unbuffered: the write that finds the disk full throws here, not later in Dispose.
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        try
        {
            while (true)
            {
                file.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            return written;
        }
    }

    private static (int ExitCode, string Output) Run(string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        try
        {
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}

/// <summary>A fact that is skipped, with the reason, where this process may not mount a tmpfs.</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    public TmpfsFactAttribute()
    {
        if (Tmpfs.Refusal is { } refusal)
        {
            Skip = "needs a tmpfs to fill (run as root): " + refusal;
        }
    }
}
