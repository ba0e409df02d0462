using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Beacon.Admin.Pages;

/// <summary>The body of error status codes (re-executed by the status-code pages middleware; the status is kept).</summary>
[IgnoreAntiforgeryToken]
public sealed class ErrorModel : PageModel
{
    [FromRoute]
    public int? Code { get; set; }

    public string Title => Code switch
    {
        403 => "Access denied",
        404 => "Not found",
        _ => "Something went wrong",
    };

    public string Explanation => Code switch
    {
        403 => "Your account has no access to this page. Ask an operator to add you to the store.",
        404 => "There is nothing here, or it belongs to a store you cannot see.",
        _ => "The request could not be completed. Try again, and if it keeps failing, ask an operator to look at the logs.",
    };

    public void OnGet()
    {
    }

    // Re-executed POSTs (a refused form) land here too.
    public void OnPost()
    {
    }
}
