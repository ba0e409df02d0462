namespace Beacon.AppHost.Orchestration;

/// <summary>Writes every child's output line by line, prefixed with the resource name in its own colour (as Aspire's dashboard console does).</summary>
internal static class ConsoleLog
{
    private static readonly Lock Gate = new();
    private static readonly ConsoleColor[] Palette =
        [ConsoleColor.Cyan, ConsoleColor.Green, ConsoleColor.Magenta, ConsoleColor.Yellow, ConsoleColor.Blue, ConsoleColor.DarkCyan, ConsoleColor.DarkYellow];
    private static int _next;

    public static ConsoleColor NextColor() => Palette[Interlocked.Increment(ref _next) % Palette.Length];

    public static void Line(string source, ConsoleColor color, string text)
    {
        lock (Gate)
        {
            var previous = Console.ForegroundColor;
            Console.ForegroundColor = color;
            Console.Write($"[{source}] ");
            Console.ForegroundColor = previous;
            Console.WriteLine(text);
        }
    }

    public static void Info(string text) => Line("apphost", ConsoleColor.White, text);

    public static void Error(string text) => Line("apphost", ConsoleColor.Red, text);
}
