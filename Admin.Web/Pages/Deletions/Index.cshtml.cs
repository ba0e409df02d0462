using System.ComponentModel.DataAnnotations;
using Beacon.Admin.Management;
using Beacon.Admin.Privacy;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Pages.Deletions;

/// <summary>A store's deletion and suppression requests: ask for one, follow it, lift a suppression.</summary>
public sealed class IndexModel(DeletionService deletions, IOptions<AdminOptions> options) : StorePageModel
{
    protected override string Section => "deletions";

    public TimeSpan SettleDelay => options.Value.DeletionSettleDelay;

    [BindProperty]
    public string Field { get; set; } = DeletionIdentifiers.DeviceId;

    [BindProperty, Required(ErrorMessage = "Give the identifier's value.")]
    public string? Value { get; set; }

    [BindProperty]
    public bool Suppress { get; set; }

    public List<DataDeletion> Deletions { get; private set; } = [];

    public async Task OnGetAsync() => Deletions = await deletions.ListAsync(StoreId, 200, HttpContext.RequestAborted);

    public async Task<IActionResult> OnPostRequestAsync()
    {
        if (!DeletionIdentifiers.All.Contains(Field))
        {
            ModelState.AddModelError(nameof(Field), $"Choose one of {string.Join(", ", DeletionIdentifiers.All)}.");
        }
        else if (DeletionService.Validate(new Dictionary<string, string?> { [Field] = Value }) is { Count: > 0 } errors)
        {
            ModelState.AddModelError(nameof(Value), string.Join(" ", errors.SelectMany(e => e.Value)));
        }
        if (!ModelState.IsValid)
        {
            await OnGetAsync();
            return Page();
        }
        await deletions.RequestAsync(StoreId, Field, Value!.Trim(), Suppress, User, HttpContext.RequestAborted);
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostLiftAsync(Guid deletionId) =>
        await deletions.LiftAsync(StoreId, deletionId, User, HttpContext.RequestAborted) is null ? NotFound() : RedirectToPage();
}
