using System.Collections.Concurrent;
using System.Net;
using Beacon.Ingestion.Intake;
using Beacon.Ingestion.Queueing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Beacon.Ingestion.Admission;

/// <summary>The answer of <see cref="RateLimiter"/>: allowed, or refused with how long to wait.</summary>
public readonly record struct RateLimitDecision(bool Allowed, TimeSpan RetryAfter);

/// <summary>
/// Fixed-window request limits per token and per token + client IP (DESIGN §3), counted in Redis so every
/// instance shares them. The counters are the token's whatever the door; the thresholds are the token's own limits,
/// else the door's defaults (<see cref="RateLimitOptions"/>).
/// <para>
/// Every request gets its own count of its window and is allowed while both counts are within the limits. A counter
/// that is busy on this instance leases counts from Redis in advance (<c>INCRBY n</c>): as many as it took in the last
/// 100 ms, at most a tenth of what its limit leaves, so a lease is used within about 100 ms and a limit is never
/// reached on leased counts that another instance could not use by more than a tenth of what was left; near a limit,
/// and for counters that are not busy, every request is counted in Redis, so every instance sees the exact count.
/// The Redis calls are group-committed (<see cref="GroupCommit{T}"/>): one script per token, whose keys share the
/// token's hash tag (so it works on Redis Cluster), for the requests that arrived while a call was in flight.
/// </para>
/// </summary>
public sealed class RateLimiter : IAsyncDisposable
{
    // KEYS = the distinct counters of the call; ARGV[1] = their lifetime (ms); ARGV[1 + i] = the increment of KEYS[i].
    // Returns each counter's new value.
    private const string CountScript = """
        local counts = {}
        for i = 1, #KEYS do
          local by = tonumber(ARGV[i + 1])
          local n = redis.call('INCRBY', KEYS[i], by)
          if n == by then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
          counts[i] = n
        end
        return counts
        """;

    private const long SliceMs = 100;
    private const int MaxLease = 10_000;

    /// <summary>What is counted: a token (no address) or a token and one client address.</summary>
    private readonly record struct Scope(Guid TokenId, IPAddress? Address, bool PerAddress);

    /// <summary>This instance's view of one counter in one window: the counts it leased and has not used yet, and its recent rate.</summary>
    private sealed class Counter
    {
        public long Window = -1;
        public long Next = 1;
        public long End;
        public long Known;
        public bool Refilling;
        public long Slice;
        public int InSlice;
        public int LastSlice;
    }

    /// <summary>One counter's part of a request: its count, taken from a lease, or to be counted in Redis (<see cref="Lease"/> > 0).</summary>
    private struct Take
    {
        public Counter Counter;
        public long Window;
        public int Lease;
        public RedisKey Key;
        public long Count;
    }

    /// <summary>A request with at least one count to fetch from Redis; completed once its counts are in.</summary>
    private sealed class Pending(Guid tokenId, Take perToken, Take perAddress)
        : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public Guid TokenId { get; } = tokenId;
        public Take PerToken = perToken;
        public Take PerAddress = perAddress;
    }

    private readonly IConnectionMultiplexer _redis;
    private readonly RateLimitOptions _options;
    private readonly long _windowMs;
    private readonly GroupCommit<Pending> _group;
    private readonly ConcurrentDictionary<Scope, Counter> _counters = new();
    private readonly Timer _sweeper;

    public RateLimiter(IConnectionMultiplexer redis, IOptions<IngestionOptions> options)
    {
        _redis = redis;
        _options = options.Value.RateLimit;
        _windowMs = Math.Max(1L, (long)_options.Window.TotalMilliseconds);
        _group = new GroupCommit<Pending>(group => GroupCommit.SendByAsync(group, p => p.TokenId, CountAsync), options.Value.EnqueueConcurrency);
        // Counters of past windows (one per client address that came by) are dropped as their windows end.
        _sweeper = new Timer(_ => Sweep(), null, TimeSpan.FromMilliseconds(_windowMs), TimeSpan.FromMilliseconds(_windowMs));
    }

    private static string CounterKey(string scope, long window) => $"beacon:rl:{scope}:{window}";

    /// <exception cref="QueueUnavailableException">Redis is unreachable (the request could not be stored anyway).</exception>
    public async ValueTask<RateLimitDecision> CheckAsync(StoreToken token, IPAddress? clientIp, DoorLimits limits)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var window = now / _windowMs;
        var alana = limits == DoorLimits.Alana;
        var perToken = token.RateLimitPerMinute ?? (alana ? _options.PerKey : _options.StorefrontPerToken);
        var perAddress = token.RateLimitPerIpPerMinute ?? (alana ? _options.PerKeyAndIp : _options.StorefrontPerTokenAndIp);
        var tokenTake = TakeLocally(new Scope(token.TokenId, null, false), window, now, perToken);
        var addressTake = TakeLocally(new Scope(token.TokenId, clientIp, true), window, now, perAddress);
        if (tokenTake.Lease > 0 || addressTake.Lease > 0)
        {
            var scope = $"{{{token.TokenId:N}}}";
            tokenTake.Key = CounterKey(scope, window);
            addressTake.Key = CounterKey($"{scope}:{clientIp?.ToString() ?? "none"}", window);
            var pending = new Pending(token.TokenId, tokenTake, addressTake);
            if (!_group.TryAdd(pending))
            {
                throw new QueueUnavailableException("The rate limiter is shutting down.");
            }
            await pending.Task;
            (tokenTake, addressTake) = (pending.PerToken, pending.PerAddress);
        }
        if (tokenTake.Count <= perToken && addressTake.Count <= perAddress)
        {
            return new RateLimitDecision(true, TimeSpan.Zero);
        }
        var untilNextWindow = (window + 1) * _windowMs - now;
        return new RateLimitDecision(false, TimeSpan.FromMilliseconds(Math.Max(untilNextWindow, 1)));
    }

    /// <summary>The next leased count of the counter, or what to ask Redis for when none is left.</summary>
    private Take TakeLocally(Scope scope, long window, long now, long limit)
    {
        var counter = _counters.GetOrAdd(scope, static _ => new Counter());
        lock (counter)
        {
            if (counter.Window != window)
            {
                (counter.Window, counter.Next, counter.End, counter.Known, counter.Refilling) = (window, 1, 0, 0, false);
            }
            var slice = now / SliceMs;
            if (slice != counter.Slice)
            {
                counter.LastSlice = slice == counter.Slice + 1 ? counter.InSlice : 0;
                (counter.InSlice, counter.Slice) = (0, slice);
            }
            counter.InSlice++;
            if (counter.Next <= counter.End)
            {
                return new Take { Counter = counter, Window = window, Count = counter.Next++ };
            }
            var lease = 1;
            if (!counter.Refilling && counter.LastSlice > 1)
            {
                lease = (int)Math.Clamp(Math.Min(counter.LastSlice, (limit - counter.Known) / 10), 1, MaxLease);
                counter.Refilling = lease > 1;
            }
            return new Take { Counter = counter, Window = window, Lease = lease };
        }
    }

    /// <summary>Keeps what is left of a lease (its first count is the request's own) and the newest count seen.</summary>
    private static void Settle(ref Take take, long first, long latest)
    {
        take.Count = first;
        var counter = take.Counter;
        lock (counter)
        {
            if (counter.Window != take.Window)
            {
                return;
            }
            counter.Known = Math.Max(counter.Known, latest);
            if (take.Lease > 1)
            {
                counter.Refilling = false;
                if (counter.Next > counter.End)
                {
                    (counter.Next, counter.End) = (first + 1, first + take.Lease - 1);
                }
            }
        }
    }

    private static void Unsettle(in Take take)
    {
        if (take.Lease > 1)
        {
            lock (take.Counter)
            {
                if (take.Counter.Window == take.Window)
                {
                    take.Counter.Refilling = false;
                }
            }
        }
    }

    private void Sweep()
    {
        var current = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / _windowMs;
        foreach (var (scope, counter) in _counters)
        {
            if (Volatile.Read(ref counter.Window) < current)
            {
                _counters.TryRemove(new KeyValuePair<Scope, Counter>(scope, counter));
            }
        }
    }

    /// <summary>Bumps the counters of one token's requests in one script call and gives each request its own counts, in order.</summary>
    private async Task CountAsync(Pending[] requests)
    {
        var keys = new List<RedisKey>(2);
        var increments = new List<long>(2);
        var slots = new Dictionary<RedisKey, int>(2);
        int SlotOf(in Take take)
        {
            if (take.Lease == 0)
            {
                return -1;
            }
            if (!slots.TryGetValue(take.Key, out var slot))
            {
                slot = keys.Count;
                slots.Add(take.Key, slot);
                keys.Add(take.Key);
                increments.Add(0);
            }
            increments[slot] += take.Lease;
            return slot;
        }
        var assigned = new (int PerToken, int PerAddress)[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            assigned[i] = (SlotOf(requests[i].PerToken), SlotOf(requests[i].PerAddress));
        }
        try
        {
            var values = new RedisValue[keys.Count + 1];
            // Keys outlive their window a little so a slow clock on another instance still counts in it.
            values[0] = _windowMs + 1000;
            for (var i = 0; i < increments.Count; i++)
            {
                values[i + 1] = increments[i];
            }
            var counts = (long[])(await _redis.GetDatabase().ScriptEvaluateAsync(CountScript, [.. keys], values))!;
            // The group's requests take the counts below each counter's new value, in the order they came.
            var next = new long[counts.Length];
            for (var i = 0; i < counts.Length; i++)
            {
                next[i] = counts[i] - increments[i] + 1;
            }
            for (var i = 0; i < requests.Length; i++)
            {
                var request = requests[i];
                if (assigned[i].PerToken >= 0)
                {
                    Settle(ref request.PerToken, next[assigned[i].PerToken], counts[assigned[i].PerToken]);
                    next[assigned[i].PerToken] += request.PerToken.Lease;
                }
                if (assigned[i].PerAddress >= 0)
                {
                    Settle(ref request.PerAddress, next[assigned[i].PerAddress], counts[assigned[i].PerAddress]);
                    next[assigned[i].PerAddress] += request.PerAddress.Lease;
                }
                request.TrySetResult();
            }
        }
        // The multiplexer cancels commands it cannot send (e.g. while reconnecting): that is unavailability too.
        catch (Exception ex)
        {
            var error = new QueueUnavailableException("The rate limiter is unavailable.", ex);
            foreach (var request in requests)
            {
                Unsettle(request.PerToken);
                Unsettle(request.PerAddress);
                request.TrySetException(error);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sweeper.DisposeAsync();
        await _group.DisposeAsync();
    }
}
