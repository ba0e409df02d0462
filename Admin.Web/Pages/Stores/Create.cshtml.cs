using System.ComponentModel.DataAnnotations;
using Beacon.Admin.Management;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages.Stores;

/// <summary>Operators only (page convention in <c>Extensions</c>).</summary>
public sealed class CreateModel(StoreService stores) : PageModel
{
    [BindProperty, Required, StringLength(200)]
    public string Name { get; set; } = "";

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        if (!ModelState.IsValid)
        {
            return Page();
        }
        var store = await stores.CreateAsync(Name, HttpContext.RequestAborted);
        return Redirect($"/stores/{store.Id}");
    }
}
