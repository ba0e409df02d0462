using System.Runtime.InteropServices;
using Beacon.AppHost.Orchestration;
using Microsoft.Extensions.Configuration;

// Beacon's orchestrator, following Aspire's AppHost model (resources, references injected as
// ConnectionStrings__* / services__*, wait-for-healthy ordering) without the Aspire hosting packages,
// which this project's package feed does not serve. See DESIGN §7.
var configuration = new ConfigurationBuilder()
    .AddEnvironmentVariables()
    .AddCommandLine(args)
    .Build();

var options = AppHostOptions.From(configuration);
Directory.CreateDirectory(options.DataDirectory);

using var instanceLock = InstanceLock.TryAcquire(options.DataDirectory);
if (instanceLock is null)
{
    ConsoleLog.Error($"Another Beacon AppHost is already running with its data in {options.DataDirectory}. " +
                     "Stop it first (Ctrl+C in its terminal), or give this one its own --AppHost:DataDirectory and ports.");
    return 2;
}

using var stopping = new CancellationTokenSource();
// Ctrl+C (SIGINT), SIGTERM and SIGQUIT all mean "stop everything in order". Registered as POSIX handlers so they
// work even when started from a script whose shell set SIGINT to ignored for background jobs.
var signals = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT }
    .Select(signal => PosixSignalRegistration.Create(signal, context =>
    {
        context.Cancel = true;
        stopping.Cancel();
    }))
    .ToList();

var application = new BeaconApplication(options);
try
{
    await application.StartAsync(stopping.Token);
    await application.WaitForShutdownAsync(stopping.Token);
    return 0;
}
catch (OperationCanceledException) when (stopping.IsCancellationRequested)
{
    return 0;
}
catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException or IOException or Npgsql.NpgsqlException)
{
    ConsoleLog.Error($"start-up failed: {ex.Message}");
    return 1;
}
finally
{
    await application.DisposeAsync();
    ConsoleLog.Info("every resource is stopped");
    signals.ForEach(s => s.Dispose());
}
