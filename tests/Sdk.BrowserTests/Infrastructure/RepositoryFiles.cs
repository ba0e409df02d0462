namespace Beacon.Sdk.BrowserTests.Infrastructure;

/// <summary>Source files of the repository that tests read as they are (the SDK, the example page).</summary>
public static class RepositoryFiles
{
    private static readonly string Root = FindRoot();

    public static string SdkScript => Path.Combine(Root, "Ingestion.Api", "Sdk", "beacon.js");

    public static string ExamplePage => Path.Combine(Root, "Ingestion.Api", "Sdk", "example.html");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Beacon.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Beacon.sln not found above " + AppContext.BaseDirectory);
    }
}
