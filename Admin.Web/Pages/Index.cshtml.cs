using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages;

public sealed class IndexModel : PageModel
{
    public IActionResult OnGet() => Redirect("/stores");
}
