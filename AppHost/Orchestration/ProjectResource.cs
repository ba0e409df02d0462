using System.Reflection;

namespace Beacon.AppHost.Orchestration;

/// <summary>An endpoint of a project: its name (<c>http</c>, <c>grpc</c>) and port; replica i > 0 gets a free port.</summary>
internal sealed record Endpoint(string Name, int Port, string Protocols = "Http1");

/// <summary>
/// One of the solution's services, run from its build output (<c>dotnet Service.dll</c>). References are injected
/// the Aspire way: <c>ConnectionStrings__&lt;name&gt;</c> and <c>services__&lt;name&gt;__&lt;endpoint&gt;__0</c>.
/// <paramref name="runtime"/>: .NET runtime settings only an environment variable can make (e.g. <c>DOTNET_GCgen0size</c>),
/// each applied unless the AppHost's own environment already sets it.
/// </summary>
internal sealed class ProjectResource(
    string name, string projectName, IReadOnlyList<Endpoint> endpoints, int replicas, IReadOnlyDictionary<string, string>? runtime = null)
{
    private readonly List<(ChildProcess Process, string HealthUrl)> _instances = [];

    public string Name => name;
    public IReadOnlyList<Endpoint> Endpoints => endpoints;
    public IReadOnlyList<ChildProcess> Instances => _instances.Select(i => i.Process).ToList();

    public static string DllPath(string repositoryRoot, string projectName)
    {
        var configuration = typeof(ProjectResource).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "BuildConfiguration")?.Value ?? "Debug";
        return Path.Combine(repositoryRoot, projectName, "bin", configuration, "net10.0", projectName + ".dll");
    }

    public void Start(string repositoryRoot, IReadOnlyDictionary<string, string?> environment, IEnumerable<string>? arguments = null)
    {
        var dll = DllPath(repositoryRoot, projectName);
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is missing: build the solution first (scripts/run does)", dll);
        }
        for (var replica = 0; replica < replicas; replica++)
        {
            var env = new Dictionary<string, string?>(environment)
            {
                ["OTEL_SERVICE_NAME"] = name,
                ["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={name}-{replica}",
            };
            foreach (var (variable, value) in runtime ?? new Dictionary<string, string>())
            {
                env[variable] = Environment.GetEnvironmentVariable(variable) ?? value;
            }
            string? healthUrl = null;
            foreach (var endpoint in endpoints)
            {
                var port = replica == 0 ? endpoint.Port : FreePort();
                env[$"Kestrel__Endpoints__{endpoint.Name}__Url"] = $"http://localhost:{port}";
                env[$"Kestrel__Endpoints__{endpoint.Name}__Protocols"] = endpoint.Protocols;
                healthUrl ??= $"http://localhost:{port}/health";
            }
            var label = replicas > 1 ? $"{name}-{replica}" : name;
            var process = ChildProcess.Start(label, "dotnet", [dll, .. arguments ?? []], env, Path.GetDirectoryName(dll)!);
            _instances.Add((process, healthUrl ?? ""));
        }
    }

    /// <summary>Waits until every instance answers 200 on <c>/health</c> (dependencies checked).</summary>
    public async Task WaitHealthyAsync(HttpClient http, TimeSpan timeout, CancellationToken cancellationToken)
    {
        foreach (var (process, healthUrl) in _instances)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{process.Name} exited with code {process.ExitCode} before it became healthy");
                }
                try
                {
                    using var response = await http.GetAsync(healthUrl, cancellationToken);
                    if (response.IsSuccessStatusCode)
                    {
                        ConsoleLog.Info($"{process.Name} is healthy ({healthUrl})");
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                }
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"{process.Name} was not healthy within {timeout.TotalSeconds:0}s ({healthUrl})");
                }
                await Task.Delay(250, cancellationToken);
            }
        }
    }

    public async Task StopAsync()
    {
        await Task.WhenAll(_instances.Select(i => i.Process.StopAsync(TimeSpan.FromSeconds(20))));
        foreach (var (process, _) in _instances)
        {
            await process.DisposeAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
