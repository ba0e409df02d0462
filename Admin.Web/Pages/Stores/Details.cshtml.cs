using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Beacon.Admin.Security;
using Microsoft.AspNetCore.Mvc;
using Beacon.Core.Data;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Pages.Stores;

[OutputCache(PolicyName = AdminCache.Charts)]
public sealed class DetailsModel(BeaconDbContext db, StoreService stores, Privacy.DeletionService deletions) : StorePageModel
{
    protected override string Section => "overview";

    public int Tokens { get; private set; }
    public int ActiveTokens { get; private set; }
    public int Pipelines { get; private set; }
    public int EnabledPipelines { get; private set; }
    public int DeadLetters { get; private set; }

    /// <summary>The store's private networks, one per line (operators only).</summary>
    [BindProperty]
    public string? Networks { get; set; }

    [BindProperty]
    public int? EventDays { get; set; }

    [BindProperty]
    public int? DeadLetterDays { get; set; }

    /// <summary>Back to the operator's default (the store has no list of its own).</summary>
    [BindProperty]
    public bool UseDefault { get; set; }

    public async Task OnGetAsync()
    {
        Networks = string.Join("\n", Store.AllowedPrivateNetworks ?? []);
        UseDefault = Store.AllowedPrivateNetworks is null;
        EventDays = Store.EventRetentionDays;
        DeadLetterDays = Store.DeadLetterRetentionDays;
        await CountAsync();
    }

    public async Task<IActionResult> OnPostNetworksAsync()
    {
        if (!User.IsOperator())
        {
            return Forbid();
        }
        var entries = UseDefault ? null : TokenService.ParseOrigins(Networks);
        var (_, errors) = await stores.SetAllowedPrivateNetworksAsync(StoreId, entries, HttpContext.RequestAborted);
        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                ModelState.AddModelError(nameof(Networks), error);
            }
            await CountAsync();
            return Page();
        }
        return RedirectToPage();
    }

    /// <summary>Operators only: how long the store's data is kept (empty: the defaults).</summary>
    public async Task<IActionResult> OnPostRetentionAsync()
    {
        if (!User.IsOperator())
        {
            return Forbid();
        }
        foreach (var (field, messages) in StoreService.ValidateRetention(EventDays, DeadLetterDays))
        {
            ModelState.AddModelError(field == "eventDays" ? nameof(EventDays) : nameof(DeadLetterDays), string.Join(" ", messages));
        }
        if (!ModelState.IsValid)
        {
            await CountAsync();
            return Page();
        }
        await stores.SetRetentionAsync(StoreId, EventDays, DeadLetterDays, HttpContext.RequestAborted);
        return RedirectToPage();
    }

    /// <summary>Operators only: the store goes at once, its data in the background (followed on the stores page).</summary>
    public async Task<IActionResult> OnPostDeleteAsync()
    {
        if (!User.IsOperator())
        {
            return Forbid();
        }
        await deletions.DeleteStoreAsync(StoreId, User, HttpContext.RequestAborted);
        return Redirect("/stores");
    }

    private async Task CountAsync()
    {
        var ct = HttpContext.RequestAborted;
        Tokens = await db.AccessTokens.CountAsync(t => t.StoreId == StoreId, ct);
        ActiveTokens = await db.AccessTokens.CountAsync(t => t.StoreId == StoreId && !t.Revoked, ct);
        Pipelines = await db.Pipelines.CountAsync(p => p.StoreId == StoreId, ct);
        EnabledPipelines = await db.Pipelines.CountAsync(p => p.StoreId == StoreId && p.Enabled, ct);
        DeadLetters = await db.DeadLetters.CountAsync(d => d.StoreId == StoreId, ct);
    }
}
