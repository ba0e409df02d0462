using Microsoft.AspNetCore.Mvc.ModelBinding;

namespace Beacon.Admin.Pages;

public static class ModelStateExtensions
{
    /// <summary>Puts a service's validation errors (keyed by field) on the form fields under <paramref name="prefix"/>.</summary>
    public static bool AddErrors(this ModelStateDictionary modelState, string prefix, Dictionary<string, string[]> errors)
    {
        foreach (var (field, messages) in errors)
        {
            modelState.AddModelError($"{prefix}.{field}", string.Join(" ", messages));
        }
        return modelState.IsValid;
    }
}
