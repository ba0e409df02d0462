using Aspire.Hosting.ApplicationModel;

namespace Beacon.AppHost.Resources;

/// <summary>
/// Every service connects to the AppHost's Postgres with a role of its own (DESIGN §5; <c>Beacon.Core.Data.ServiceRoles</c>
/// says what each may do), its password kept under the data directory like the others. The migrate step keeps the
/// superuser and creates the roles. With an existing server (<c>ConnectionStrings__beacondb</c> given) every service
/// gets that connection string, as before: the operator decides the roles there (README, "Existing servers").
/// </summary>
internal sealed class DatabaseRoles(IDistributedApplicationBuilder builder, IResourceBuilder<IResourceWithConnectionString> db, LocalSecrets secrets)
{
    /// <summary>Gives the migrate step the passwords of the roles to create.</summary>
    public IResourceBuilder<ProjectResource> CreatedBy(IResourceBuilder<ProjectResource> migrate, params string[] services)
    {
        migrate.WithReference(db).WaitFor(db);
        if (db.Resource is not PostgresServerResource)
        {
            return migrate;
        }
        foreach (var service in services)
        {
            migrate.WithEnvironment($"Beacon__ServiceRoles__{service}", PasswordOf(service));
        }
        return migrate;
    }

    /// <summary>The service's own connection string (its role), or the one given for an existing server.</summary>
    public IResourceBuilder<ProjectResource> ConnectAs(IResourceBuilder<ProjectResource> project, string service)
    {
        if (db.Resource is not PostgresServerResource server)
        {
            return project.WithReference(db).WaitFor(db);
        }
        var password = PasswordOf(service);
        return project
            .WithEnvironment($"ConnectionStrings__{db.Resource.Name}", ReferenceExpression.Create(
                $"Host=127.0.0.1;Port={server.Port.ToString()};Username={RoleOf(service)};Password={password.Resource};Database={server.Database}"))
            .WaitFor(db);
    }

    /// <summary>The role's name: <c>beacon_</c> and the service's name (Beacon.Core.Data.ServiceRoles).</summary>
    public static string RoleOf(string service) => "beacon_" + service.ToLowerInvariant();

    private IResourceBuilder<ParameterResource> PasswordOf(string service) =>
        secrets.GeneratedParameter(builder, $"postgres-{service.ToLowerInvariant()}-password");
}

internal static class DatabaseRoleExtensions
{
    /// <summary>The migrate step: connects as the superuser and creates the roles of <paramref name="services"/>.</summary>
    public static IResourceBuilder<ProjectResource> WithDatabaseCreatingRoles(
        this IResourceBuilder<ProjectResource> migrate, DatabaseRoles roles, params string[] services) => roles.CreatedBy(migrate, services);

    /// <summary>A service: connects with its own role.</summary>
    public static IResourceBuilder<ProjectResource> WithDatabaseAs(this IResourceBuilder<ProjectResource> project, DatabaseRoles roles, string service) =>
        roles.ConnectAs(project, service);
}
