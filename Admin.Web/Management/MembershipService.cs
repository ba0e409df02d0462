using Beacon.Core.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Management;

/// <summary>The outcome of an invitation: an existing user is simply added; a new one gets a one-time link.</summary>
public sealed record Invitation(BeaconUser User, bool Created, string? SetPasswordPath);

/// <summary>Who belongs to a store. Operators invite merchants; a merchant sees only the stores they belong to.</summary>
public sealed class MembershipService(BeaconDbContext db, UserManager<BeaconUser> users, ChangeNotifier notifier, ILogger<MembershipService> logger)
{
    public Task<List<StoreMember>> ListAsync(Guid storeId, CancellationToken cancellationToken) =>
        db.StoreMembers.AsNoTracking().Include(m => m.User).Where(m => m.StoreId == storeId)
            .OrderBy(m => m.User!.Email).ToListAsync(cancellationToken);

    /// <summary>
    /// Adds <paramref name="email"/> to the store, creating the user when needed. A created user has no
    /// password yet: the returned path carries a one-time password-reset token (valid for
    /// <see cref="AdminOptions.InvitationLifetime"/>, void once used) that the operator hands over.
    /// </summary>
    public async Task<Invitation> InviteAsync(Guid storeId, string email, CancellationToken cancellationToken)
    {
        email = email.Trim();
        var user = await users.FindByEmailAsync(email);
        var created = false;
        if (user is null)
        {
            user = new BeaconUser { UserName = email, Email = email, EmailConfirmed = true };
            var result = await users.CreateAsync(user);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException(string.Join(" ", result.Errors.Select(e => e.Description)));
            }
            created = true;
            logger.LogInformation("Created merchant user {UserId} by invitation to store {StoreId}", user.Id, storeId);
        }

        if (!await db.StoreMembers.AnyAsync(m => m.StoreId == storeId && m.UserId == user.Id, cancellationToken))
        {
            db.StoreMembers.Add(new StoreMember { StoreId = storeId, UserId = user.Id });
            await db.SaveChangesAsync(cancellationToken);
        }
        await notifier.PagesChangedAsync(storeId, cancellationToken);

        string? path = null;
        if (created)
        {
            var code = await users.GeneratePasswordResetTokenAsync(user);
            path = $"/account/accept-invitation?user={Uri.EscapeDataString(user.Id)}&code={Uri.EscapeDataString(code)}";
        }
        return new Invitation(user, created, path);
    }

    public async Task<bool> RemoveAsync(Guid storeId, string userId, CancellationToken cancellationToken)
    {
        var removed = await db.StoreMembers.Where(m => m.StoreId == storeId && m.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        await notifier.PagesChangedAsync(storeId, cancellationToken);
        return removed > 0;
    }
}
