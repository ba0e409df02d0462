using Beacon.Admin.Management;
using Beacon.Core.Quarantine;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Quarantine;

/// <summary>
/// Every quarantined stream entry, for operators (the Operator policy guards this page): also those whose store
/// cannot be told, which no merchant sees.
/// </summary>
public sealed class AllModel(QuarantineService quarantine, StoreService stores) : PageModel
{
    public QuarantineList List { get; private set; } = new([], 0, null);

    public string? Message { get; private set; }

    public async Task OnGetAsync()
    {
        Message = TempData["Message"] as string;
        var ct = HttpContext.RequestAborted;
        var entries = await quarantine.ListAsync(null, 200, ct);
        var names = (await stores.ListVisibleAsync(User, ct)).ToDictionary(s => s.Id, s => s.Name);
        List = new QuarantineList(entries, await quarantine.CountAsync(null, ct), names);
    }

    public async Task<IActionResult> OnGetRawAsync(long id, int field) =>
        await quarantine.FindAsync(null, id, HttpContext.RequestAborted) is { } entry && field >= 0 && field < entry.FieldValues.Count
            ? File(entry.FieldValues[field], "application/octet-stream", $"{entry.EntryId}-{entry.FieldNames[field]}.bin")
            : NotFound();

    public async Task<IActionResult> OnPostReplayOneAsync(long id) =>
        Done("Replayed", await quarantine.ReplayAsync(null, [id], HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostReplaySelectedAsync(long[] ids) =>
        Done("Replayed", ids.Length == 0 ? 0 : await quarantine.ReplayAsync(null, ids, HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostDiscardSelectedAsync(long[] ids) =>
        Done("Discarded", ids.Length == 0 ? 0 : await quarantine.DiscardAsync(null, ids, HttpContext.RequestAborted));

    private RedirectToPageResult Done(string verb, int count)
    {
        TempData["Message"] = QuarantineList.Done(verb, count);
        return RedirectToPage();
    }
}
