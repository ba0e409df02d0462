using Beacon.Admin.Caching;
using Beacon.Admin.Management;
using Beacon.Core.Data;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.OutputCaching;

namespace Beacon.Admin.Pages.Stores;

[OutputCache(PolicyName = AdminCache.Pages)]
public sealed class IndexModel(StoreService stores) : PageModel
{
    public List<Store> Stores { get; private set; } = [];

    public async Task OnGetAsync() => Stores = await stores.ListVisibleAsync(User, HttpContext.RequestAborted);
}
