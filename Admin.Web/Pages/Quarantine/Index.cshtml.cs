using Beacon.Core.Quarantine;
using Microsoft.AspNetCore.Mvc;

namespace Beacon.Admin.Pages.Quarantine;

/// <summary>
/// The store's quarantined stream entries: those the worker could not read whose envelopes still name this store.
/// Replay and discard are Beacon.Core's <see cref="QuarantineService"/>, scoped to the store.
/// </summary>
public sealed class IndexModel(QuarantineService quarantine) : StorePageModel
{
    protected override string Section => "quarantine";

    public QuarantineList List { get; private set; } = new([], 0, null);

    public string? Message { get; private set; }

    public async Task OnGetAsync()
    {
        Message = TempData["Message"] as string;
        var ct = HttpContext.RequestAborted;
        List = new QuarantineList(await quarantine.ListAsync(StoreId, 200, ct), await quarantine.CountAsync(StoreId, ct), null);
    }

    public async Task<IActionResult> OnGetRawAsync(long id, int field) =>
        await quarantine.FindAsync(StoreId, id, HttpContext.RequestAborted) is { } entry && field >= 0 && field < entry.FieldValues.Count
            ? File(entry.FieldValues[field], "application/octet-stream", $"{entry.EntryId}-{entry.FieldNames[field]}.bin")
            : NotFound();

    /// <summary>The row's own button: only that one, whatever boxes are ticked.</summary>
    public async Task<IActionResult> OnPostReplayOneAsync(long id) =>
        Done("Replayed", await quarantine.ReplayAsync(StoreId, [id], HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostReplaySelectedAsync(long[] ids) =>
        Done("Replayed", ids.Length == 0 ? 0 : await quarantine.ReplayAsync(StoreId, ids, HttpContext.RequestAborted));

    public async Task<IActionResult> OnPostDiscardSelectedAsync(long[] ids) =>
        Done("Discarded", ids.Length == 0 ? 0 : await quarantine.DiscardAsync(StoreId, ids, HttpContext.RequestAborted));

    private RedirectToPageResult Done(string verb, int count)
    {
        TempData["Message"] = QuarantineList.Done(verb, count);
        return RedirectToPage(new { storeId = StoreId });
    }
}
