using System.Text.RegularExpressions;
using Beacon.Ingestion.Enrichment;
using YamlDotNet.RepresentationModel;

namespace Beacon.Ingestion.Tests;

/// <summary>The vendored ua-parser rules (uap-core's regexes.yaml) work with .NET's regex engine.</summary>
public sealed class UserAgentRulesTests
{
    [Fact]
    public void EveryVendoredRuleCompilesAsADotNetRegex()
    {
        using var stream = typeof(UserAgentParser).Assembly.GetManifestResourceStream("Beacon.Ingestion.Enrichment.regexes.yaml")!;
        var yaml = new YamlStream();
        yaml.Load(new StreamReader(stream));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;

        var failures = new List<string>();
        var count = 0;
        foreach (var section in new[] { "user_agent_parsers", "os_parsers", "device_parsers" })
        {
            foreach (YamlMappingNode rule in (YamlSequenceNode)root.Children[new YamlScalarNode(section)])
            {
                var pattern = ((YamlScalarNode)rule.Children[new YamlScalarNode("regex")]).Value!;
                count++;
                try
                {
                    _ = new Regex(pattern, RegexOptions.CultureInvariant);
                }
                catch (ArgumentException ex)
                {
                    failures.Add($"{section}: {pattern} ({ex.Message})");
                }
            }
        }

        Assert.True(count > 1000, $"only {count} rules read");
        Assert.Empty(failures);
    }
}
