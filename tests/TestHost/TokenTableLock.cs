using Npgsql;

namespace Beacon.TestHost;

/// <summary>
/// Holds a database's <c>access_tokens</c> locked, so every token lookup waits until the lock is released: a test
/// knows a request is inside authentication (<see cref="WaitForLookupAsync"/>) and can act meanwhile, e.g. close
/// the client. Only on a database of the test's own (<see cref="Backends.StartIsolatedAsync"/>).
/// </summary>
public sealed class TokenTableLock : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private TokenTableLock(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    public static async Task<TokenTableLock> TakeAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        // Even a SELECT waits for ACCESS EXCLUSIVE.
        await using var command = new NpgsqlCommand("LOCK TABLE access_tokens IN ACCESS EXCLUSIVE MODE", connection, transaction);
        await command.ExecuteNonQueryAsync();
        return new TokenTableLock(connection, transaction);
    }

    /// <summary>Waits until a query on <c>access_tokens</c> of this database waits for the lock.</summary>
    public async Task WaitForLookupAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        await using var watcher = new NpgsqlConnection(_connection.ConnectionString);
        await watcher.OpenAsync();
        await using var waiting = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%access_tokens%'",
            watcher);
        while ((long)(await waiting.ExecuteScalarAsync())! == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("No token lookup waited for the lock.");
            }
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.CommitAsync();
        await _connection.DisposeAsync();
    }
}
