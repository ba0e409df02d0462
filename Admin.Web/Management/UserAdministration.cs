using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>A user as the operators' user list shows it.</summary>
public sealed record UserSummary(string Id, string Email, bool IsOperator, bool LockedOut, DateTimeOffset? LockoutEnd, bool HasPassword, int Stores);

/// <summary>
/// What operators do to accounts: list them, lock and unlock them (a locked user is signed out within
/// <see cref="AdminOptions.PrincipalRevalidationInterval"/> and their API keys stop working at once), and reset a
/// password: the old one stops working and a one-time link to choose a new one is returned, shown once like an invitation.
/// </summary>
public sealed class UserAdministration(BeaconDbContext db, UserManager<BeaconUser> users, ILogger<UserAdministration> logger)
{
    public async Task<List<UserSummary>> ListAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        return await db.Users.AsNoTracking().OrderBy(u => u.Email)
            .Select(u => new UserSummary(u.Id, u.Email ?? u.UserName ?? u.Id, u.IsOperator, u.LockoutEnd > now, u.LockoutEnd,
                u.PasswordHash != null, u.Stores.Count))
            .ToListAsync(cancellationToken);
    }

    /// <summary>Locks the user out until unlocked; false when there is no such user or it is <paramref name="actingUserId"/>.</summary>
    public async Task<bool> LockAsync(string userId, string? actingUserId)
    {
        if (userId == actingUserId || await users.FindByIdAsync(userId) is not { } user)
        {
            return false;
        }
        await users.SetLockoutEnabledAsync(user, true);
        await users.SetLockoutEndDateAsync(user, DateTimeOffset.MaxValue);
        // A new stamp: the revalidation of the user's cookie signs them out.
        await users.UpdateSecurityStampAsync(user);
        logger.LogInformation("User {UserId} locked by {ActingUserId}", userId, actingUserId);
        return true;
    }

    public async Task<bool> UnlockAsync(string userId, string? actingUserId)
    {
        if (await users.FindByIdAsync(userId) is not { } user)
        {
            return false;
        }
        await users.SetLockoutEndDateAsync(user, null);
        await users.ResetAccessFailedCountAsync(user);
        logger.LogInformation("User {UserId} unlocked by {ActingUserId}", userId, actingUserId);
        return true;
    }

    /// <summary>
    /// Removes the user's password (signing them out everywhere) and returns the path of a one-time link to set a
    /// new one, valid for <see cref="AdminOptions.InvitationLifetime"/>; null when there is no such user.
    /// </summary>
    public async Task<string?> ResetPasswordAsync(string userId, string? actingUserId)
    {
        if (await users.FindByIdAsync(userId) is not { } user)
        {
            return null;
        }
        if (await users.HasPasswordAsync(user))
        {
            // Also renews the security stamp, so the link below is made after it and stays valid.
            var removed = await users.RemovePasswordAsync(user);
            if (!removed.Succeeded)
            {
                throw new InvalidOperationException(string.Join(" ", removed.Errors.Select(e => e.Description)));
            }
        }
        var code = await users.GeneratePasswordResetTokenAsync(user);
        logger.LogInformation("Password of user {UserId} reset by {ActingUserId}", userId, actingUserId);
        return $"/account/accept-invitation?user={Uri.EscapeDataString(user.Id)}&code={Uri.EscapeDataString(code)}";
    }
}
