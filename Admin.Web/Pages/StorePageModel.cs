using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages;

/// <summary>
/// Base of every page under <c>/stores/{storeId}</c>. Membership was already checked by the authorization
/// policy before this runs; this only loads the store (404 when there is none) for the layout and the page.
/// </summary>
public abstract class StorePageModel : PageModel
{
    [FromRoute]
    public Guid StoreId { get; set; }

    public Store Store { get; private set; } = null!;

    /// <summary>Which store tab the layout highlights.</summary>
    protected abstract string Section { get; }

    public override async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var stores = HttpContext.RequestServices.GetRequiredService<StoreService>();
        if (await stores.FindAsync(StoreId, HttpContext.RequestAborted) is not { } store)
        {
            context.Result = NotFound();
            return;
        }
        Store = store;
        ViewData["Store"] = store;
        ViewData["Section"] = Section;
        if (await LoadAsync(HttpContext.RequestAborted) is { } result)
        {
            context.Result = result;
            return;
        }
        await next();
    }

    /// <summary>Loads what the page is about (below the store); a result (e.g. 404) ends the request there.</summary>
    protected virtual Task<IActionResult?> LoadAsync(CancellationToken cancellationToken) => Task.FromResult<IActionResult?>(null);
}
