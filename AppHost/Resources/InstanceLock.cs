namespace Beacon.AppHost.Resources;

/// <summary>
/// An exclusive lock on <c>.beacon/apphost.lock</c>: a second AppHost on the same data refuses to start instead of
/// starting a second Postgres and Redis on the same files. The OS releases it when the process dies.
/// </summary>
internal sealed class InstanceLock : IDisposable
{
    private readonly FileStream _stream;

    private InstanceLock(FileStream stream) => _stream = stream;

    public static InstanceLock? TryAcquire(string dataDirectory)
    {
        try
        {
            var stream = new FileStream(Path.Combine(dataDirectory, "apphost.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            stream.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString()));
            stream.Flush();
            return new InstanceLock(stream);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Dispose() => _stream.Dispose();
}
