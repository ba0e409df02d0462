using System.Security.Claims;
using System.Text.Encodings.Web;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Beacon.Admin.Security;

/// <summary>
/// <c>Authorization: Bearer bk_admin_...</c> for the management API. Keys are looked up by their SHA-256
/// and carry the rights of the user who created them; refusals are problem-details bodies.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    BeaconDbContext db)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string KeyPrefix = "bk_admin_";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }
        var key = header["Bearer ".Length..].Trim();
        if (key.Length == 0)
        {
            return AuthenticateResult.Fail("Empty API key");
        }

        var hash = TokenHasher.Hash(key);
        var apiKey = await db.ApiKeys.Include(k => k.User)
            .FirstOrDefaultAsync(k => k.KeyHash == hash && !k.Revoked, Context.RequestAborted);
        if (apiKey?.User is null)
        {
            return AuthenticateResult.Fail("Unknown or revoked API key");
        }
        if (apiKey.User.LockoutEnd > DateTimeOffset.UtcNow)
        {
            return AuthenticateResult.Fail("The API key's user is locked out");
        }

        // Recorded at most once a minute: a busy automation must not turn every call into a write.
        if (apiKey.LastUsedAt is null || apiKey.LastUsedAt < DateTimeOffset.UtcNow.AddMinutes(-1))
        {
            await db.ApiKeys.Where(k => k.Id == apiKey.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, DateTimeOffset.UtcNow), Context.RequestAborted);
        }

        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, apiKey.UserId),
            new(ClaimTypes.Name, apiKey.User.UserName ?? apiKey.UserId),
            new("beacon:api_key", apiKey.Id.ToString()),
        };
        if (apiKey.User.IsOperator)
        {
            claims.Add(new Claim(AdminPolicies.OperatorClaim, "true"));
        }
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return WriteProblemAsync(StatusCodes.Status401Unauthorized, "A valid API key is required",
            "Send an API key created in Admin.Web as `Authorization: Bearer <key>`.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(StatusCodes.Status403Forbidden, "Forbidden", "The API key's user may not access this store.");

    private Task WriteProblemAsync(int status, string title, string detail)
    {
        Response.StatusCode = status;
        return Response.WriteAsJsonAsync(new ProblemDetails { Status = status, Title = title, Detail = detail },
            options: null, contentType: "application/problem+json");
    }
}
