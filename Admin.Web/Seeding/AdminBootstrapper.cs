using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Seeding;

/// <summary>
/// Creates the first operator from <c>Admin:BootstrapEmail</c>/<c>Admin:BootstrapPassword</c> and registers
/// <c>Admin:BootstrapApiKey</c> for it, so a fresh install can be signed into and automated. Runs at
/// start-up and in the <c>migrate</c> command; idempotent, and it never resets an existing password.
/// </summary>
public sealed class AdminBootstrapper(
    UserManager<BeaconUser> users,
    ApiKeyService apiKeys,
    IOptions<AdminOptions> options,
    ILogger<AdminBootstrapper> logger)
{
    /// <summary>Owner of the bootstrap API key when no bootstrap operator is configured.</summary>
    public const string AutomationUserName = "automation@beacon.local";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        BeaconUser? operatorUser = null;
        if (!string.IsNullOrWhiteSpace(settings.BootstrapEmail))
        {
            operatorUser = await EnsureOperatorAsync(settings.BootstrapEmail, settings.BootstrapPassword, cancellationToken);
        }
        if (!string.IsNullOrWhiteSpace(settings.BootstrapApiKey))
        {
            operatorUser ??= await EnsureOperatorAsync(AutomationUserName, password: null, cancellationToken);
            await apiKeys.RegisterAsync(operatorUser.Id, "Bootstrap key (Admin:BootstrapApiKey)", settings.BootstrapApiKey, cancellationToken);
        }
    }

    private async Task<BeaconUser> EnsureOperatorAsync(string email, string? password, CancellationToken cancellationToken)
    {
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            user = new BeaconUser { UserName = email, Email = email, EmailConfirmed = true, IsOperator = true };
            var result = string.IsNullOrEmpty(password) ? await users.CreateAsync(user) : await users.CreateAsync(user, password);
            if (!result.Succeeded)
            {
                // Another instance starting at the same moment may have won the race; take its row.
                user = await users.FindByEmailAsync(email)
                    ?? throw new InvalidOperationException($"Cannot create the bootstrap operator {email}: "
                        + string.Join(" ", result.Errors.Select(e => e.Description)));
            }
            else
            {
                logger.LogInformation("Created the bootstrap operator {Email}", email);
            }
        }
        if (!user.IsOperator)
        {
            user.IsOperator = true;
            await users.UpdateAsync(user);
            logger.LogInformation("Made {Email} an operator", email);
        }
        cancellationToken.ThrowIfCancellationRequested();
        return user;
    }
}

/// <summary>Runs the bootstrap when the site starts.</summary>
public sealed class AdminBootstrapService(IServiceScopeFactory scopes, ILogger<AdminBootstrapService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        try
        {
            await scope.ServiceProvider.GetRequiredService<AdminBootstrapper>().RunAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or DbUpdateException or InvalidOperationException)
        {
            // The site still serves (health shows the database state); the next start tries again.
            logger.LogError(ex, "Bootstrapping the first operator failed");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
