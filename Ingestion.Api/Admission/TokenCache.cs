using System.Collections.Concurrent;
using System.Linq.Expressions;
using Beacon.Core.Data;
using Beacon.Core.Security;
using Beacon.Ingestion.Intake;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Beacon.Ingestion.Admission;

/// <summary>
/// Store tokens by SHA-256, kept in memory: known tokens for <see cref="TokenCacheOptions.KnownFor"/>, unknown
/// and revoked ones for <see cref="TokenCacheOptions.UnknownFor"/> (so random tokens do not reach Postgres).
/// <see cref="ConfigChangeListener"/> evicts entries when Admin.Web announces a change. While Postgres is down,
/// expired entries keep being served: ingestion goes on for every token it has seen.
/// </summary>
public sealed class TokenCache(IServiceScopeFactory scopes, IOptions<IngestionOptions> options, ILogger<TokenCache> logger)
{
    private sealed record Entry(StoreToken? Token, long ExpiresAt);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<StoreToken?>> _lookups = new(StringComparer.Ordinal);
    private readonly TokenCacheOptions _options = options.Value.TokenCache;
    private int _unknownCount;
    // Bumped by every eviction; a lookup that started before one must not cache what it read.
    private long _generation;

    /// <summary>The active token, or null when it is unknown or revoked.</summary>
    /// <exception cref="TokenStoreUnavailableException">Postgres is down and the token was never seen.</exception>
    public ValueTask<StoreToken?> FindAsync(string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 512)
        {
            return ValueTask.FromResult<StoreToken?>(null);
        }
        var hash = TokenHasher.Hash(token);
        if (_entries.TryGetValue(hash, out var entry) && entry.ExpiresAt > Environment.TickCount64)
        {
            return ValueTask.FromResult(entry.Token);
        }
        return new ValueTask<StoreToken?>(LookUpAsync(hash, entry, cancellationToken));
    }

    /// <summary>Serves <paramref name="storeToken"/> for <paramref name="token"/> until <see cref="Withdraw"/>, without asking Postgres.</summary>
    public void Admit(string token, StoreToken storeToken) =>
        _entries[TokenHasher.Hash(token)] = new Entry(storeToken, long.MaxValue);

    /// <summary>
    /// Removes an <see cref="Admit"/>ted token. Unlike <see cref="Evict"/> it leaves lookups in flight alone: nothing they
    /// read from Postgres can be outdated by it.
    /// </summary>
    public void Withdraw(StoreToken storeToken) => _entries.TryRemove(storeToken.Hash, out _);

    public void Evict(string tokenHash)
    {
        Interlocked.Increment(ref _generation);
        if (_entries.TryRemove(tokenHash, out var removed) && removed.Token is null)
        {
            Interlocked.Decrement(ref _unknownCount);
        }
    }

    /// <summary>
    /// Makes every entry re-read on next use. Entries stay as the fallback for an unreachable Postgres, so a
    /// Redis reconnect during a Postgres outage does not lock out known tokens.
    /// </summary>
    public void ExpireAll()
    {
        Interlocked.Increment(ref _generation);
        foreach (var (hash, entry) in _entries)
        {
            _entries.TryUpdate(hash, entry with { ExpiresAt = 0 }, entry);
        }
    }

    private async Task<StoreToken?> LookUpAsync(string hash, Entry? stale, CancellationToken cancellationToken)
    {
        var generation = Interlocked.Read(ref _generation);
        // Concurrent requests with the same uncached token share one query.
        var lookup = _lookups.GetOrAdd(hash, h => QueryAsync(h));
        try
        {
            var token = await lookup.WaitAsync(cancellationToken);
            if (Interlocked.Read(ref _generation) == generation)
            {
                Store(hash, token);
            }
            return token;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            if (stale is not null)
            {
                logger.LogWarning(ex, "Token store unavailable; serving a cached token entry");
                // Retry the store at most every few seconds while it is down.
                _entries[hash] = stale with { ExpiresAt = Environment.TickCount64 + 5_000 };
                return stale.Token;
            }
            throw new TokenStoreUnavailableException(ex);
        }
        finally
        {
            _lookups.TryRemove(new KeyValuePair<string, Task<StoreToken?>>(hash, lookup));
        }
    }

    private void Store(string hash, StoreToken? token)
    {
        var lifetime = token is null ? _options.UnknownFor : _options.KnownFor;
        var entry = new Entry(token, Environment.TickCount64 + (long)lifetime.TotalMilliseconds);
        if (token is null)
        {
            if (Volatile.Read(ref _unknownCount) >= _options.MaxUnknownEntries)
            {
                return;
            }
            var added = true;
            _entries.AddOrUpdate(hash, entry, (_, old) =>
            {
                added = old.Token is not null;
                return entry;
            });
            if (added)
            {
                Interlocked.Increment(ref _unknownCount);
            }
        }
        else
        {
            _entries.AddOrUpdate(hash, entry, (_, old) =>
            {
                if (old.Token is null)
                {
                    Interlocked.Decrement(ref _unknownCount);
                }
                return entry;
            });
        }
    }

    /// <summary>
    /// Runs the token query (for a token nobody has) and reads one token row, whichever: the first lookup of a real
    /// token then finds EF Core's query and the readers of every column compiled. Reading its first row cost a cold
    /// process 100-200 ms. Used by the start-up warm-up; caches nothing.
    /// </summary>
    /// <exception cref="TokenStoreUnavailableException">Postgres did not answer.</exception>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
            var nobody = TokenHasher.Hash(TokenHasher.NewToken("bk_warmup_"));
            await db.AccessTokens.AsNoTracking().Where(t => t.TokenHash == nobody).Select(AsRow).FirstOrDefaultAsync(cancellationToken);
            await db.AccessTokens.AsNoTracking().Select(AsRow).FirstOrDefaultAsync(cancellationToken);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw new TokenStoreUnavailableException(ex);
        }
    }

    private sealed record TokenRow(Guid Id, Guid StoreId, List<string> AllowedOrigins, int? RateLimitPerMinute, int? RateLimitPerIpPerMinute, bool Revoked);

    private static readonly Expression<Func<AccessToken, TokenRow>> AsRow =
        t => new TokenRow(t.Id, t.StoreId, t.AllowedOrigins, t.RateLimitPerMinute, t.RateLimitPerIpPerMinute, t.Revoked);

    private async Task<StoreToken?> QueryAsync(string hash)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BeaconDbContext>();
        var row = await db.AccessTokens.AsNoTracking().Where(t => t.TokenHash == hash).Select(AsRow).FirstOrDefaultAsync();
        if (row is null || row.Revoked)
        {
            return null;
        }
        return new StoreToken(row.Id, row.StoreId, hash, row.AllowedOrigins, row.RateLimitPerMinute, row.RateLimitPerIpPerMinute);
    }

    private static bool IsStoreFailure(Exception ex) =>
        ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException
        || (ex is InvalidOperationException && ex.InnerException is NpgsqlException or TimeoutException);
}
