using Beacon.Worker.Consuming;

namespace Beacon.Worker.Tests;

public sealed class InFlightBudgetTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadingWaitsOnceTheEventsInFlightReachTheBudgetAndGoesOnWhenAnEntryIsDone()
    {
        var budget = new InFlightBudget(maxEntries: 100, maxEvents: 250);
        await budget.TakeAsync(100, CancellationToken.None);
        await budget.TakeAsync(100, CancellationToken.None);

        var third = budget.TakeAsync(100, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(third.IsCompleted); // 300 events would be past the 250 allowed

        budget.Return(100);
        await third.WaitAsync(Patience);
    }

    [Fact]
    public async Task TheEntryCountIsABoundToo()
    {
        var budget = new InFlightBudget(maxEntries: 2, maxEvents: 1_000);
        await budget.TakeAsync(1, CancellationToken.None);
        await budget.TakeAsync(1, CancellationToken.None);

        var third = budget.TakeAsync(1, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(third.IsCompleted);

        budget.Return(1);
        await third.WaitAsync(Patience);
    }

    [Fact]
    public async Task AnEntryLargerThanTheWholeBudgetGoesAloneInsteadOfWaitingForever()
    {
        var budget = new InFlightBudget(maxEntries: 10, maxEvents: 50);
        await budget.TakeAsync(500, CancellationToken.None).AsTask().WaitAsync(Patience);

        var next = budget.TakeAsync(1, CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(next.IsCompleted);
        budget.Return(500);
        await next.WaitAsync(Patience);
    }

    [Fact]
    public async Task AWaitEndsWithTheWorkersShutdown()
    {
        var budget = new InFlightBudget(maxEntries: 1, maxEvents: 10);
        await budget.TakeAsync(1, CancellationToken.None);
        using var stopping = new CancellationTokenSource();
        var waiting = budget.TakeAsync(1, stopping.Token).AsTask();
        await stopping.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
    }
}
