using Beacon.Admin.Caching;
using Beacon.Core.Data;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.EntityFrameworkCore;

namespace Beacon.Admin.Pages.Stores;

[OutputCache(PolicyName = AdminCache.Charts)]
public sealed class DetailsModel(BeaconDbContext db) : StorePageModel
{
    protected override string Section => "overview";

    public int Tokens { get; private set; }
    public int ActiveTokens { get; private set; }
    public int Pipelines { get; private set; }
    public int EnabledPipelines { get; private set; }
    public int DeadLetters { get; private set; }

    public async Task OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        Tokens = await db.AccessTokens.CountAsync(t => t.StoreId == StoreId, ct);
        ActiveTokens = await db.AccessTokens.CountAsync(t => t.StoreId == StoreId && !t.Revoked, ct);
        Pipelines = await db.Pipelines.CountAsync(p => p.StoreId == StoreId, ct);
        EnabledPipelines = await db.Pipelines.CountAsync(p => p.StoreId == StoreId && p.Enabled, ct);
        DeadLetters = await db.DeadLetters.CountAsync(d => d.StoreId == StoreId, ct);
    }
}
