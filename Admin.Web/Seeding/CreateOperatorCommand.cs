using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;

namespace Beacon.Admin.Seeding;

/// <summary>
/// <c>dotnet run --project Admin.Web -- create-operator EMAIL</c>: creates an operator, or makes an existing
/// user one and sets the password. The password comes from <c>BEACON_OPERATOR_PASSWORD</c>, else from the
/// first line of standard input, so it never appears in a process list or shell history.
/// </summary>
public static class CreateOperatorCommand
{
    public const string PasswordVariable = "BEACON_OPERATOR_PASSWORD";

    public static async Task<int> RunAsync(IServiceProvider services, string email, TextReader input, TextWriter output)
    {
        var password = Environment.GetEnvironmentVariable(PasswordVariable);
        if (string.IsNullOrEmpty(password))
        {
            if (!Console.IsInputRedirected)
            {
                output.Write("Password: ");
            }
            password = input.ReadLine();
        }
        if (string.IsNullOrEmpty(password))
        {
            output.WriteLine($"No password: set {PasswordVariable} or pipe it on standard input.");
            return 2;
        }

        await using var scope = services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<BeaconUser>>();
        var user = await users.FindByEmailAsync(email);
        IdentityResult result;
        if (user is null)
        {
            user = new BeaconUser { UserName = email, Email = email, EmailConfirmed = true, IsOperator = true };
            result = await users.CreateAsync(user, password);
        }
        else
        {
            user.IsOperator = true;
            result = await users.UpdateAsync(user);
            if (result.Succeeded)
            {
                var reset = await users.GeneratePasswordResetTokenAsync(user);
                result = await users.ResetPasswordAsync(user, reset, password);
            }
        }

        if (!result.Succeeded)
        {
            foreach (var error in result.Errors)
            {
                output.WriteLine(error.Description);
            }
            return 1;
        }
        output.WriteLine($"{email} is an operator.");
        return 0;
    }
}
