using System.Security.Cryptography;
using System.Text;
using Beacon.Core.Data;
using Beacon.Protos.Queue;
using Beacon.Protos.V1;

namespace Beacon.Core.Privacy;

/// <summary>
/// Replaces a pipeline's <see cref="Pipeline.HashFields"/> in an event by the lowercase hex SHA-256 of the store's
/// <see cref="Store.IdentifierSalt"/> followed by the value's UTF-8 bytes, at the moment a sink writes the event (the
/// webhook body, the events table row): parked retries, dead letters and the archive keep raw values, so deletions still
/// find them and a retry or replay hashes once, never twice. The same value hashes the same for every pipeline of the
/// store, so a receiver can still join a shopper's events.
/// </summary>
public sealed class IdentifierHasher
{
    private readonly byte[] _salt;
    private readonly string[] _fields;

    private IdentifierHasher(byte[] salt, string[] fields)
    {
        _salt = salt;
        _fields = fields;
    }

    /// <summary>The hasher of a pipeline that hashes fields, else null (events go out as they are).</summary>
    /// <param name="store">The pipeline's store, when it was loaded apart from <see cref="Pipeline.Store"/>.</param>
    /// <exception cref="InvalidOperationException">The pipeline was loaded without its store, whose salt it needs.</exception>
    public static IdentifierHasher? For(Pipeline pipeline, Store? store = null)
    {
        if (pipeline.HashFields.Count == 0)
        {
            return null;
        }
        // Sending the raw values instead would be the one thing this pipeline must never get.
        var salt = (store ?? pipeline.Store)?.IdentifierSalt is { Length: > 0 } known
            ? known
            : throw new InvalidOperationException($"Pipeline {pipeline.Id} hashes identifiers but was loaded without its store's salt");
        return new IdentifierHasher(salt, pipeline.HashFields.Where(DeletionIdentifiers.All.Contains).Distinct().ToArray());
    }

    /// <summary>The hash of one identifier value, as a hashing pipeline receives it.</summary>
    public static string Hash(byte[] salt, string value)
    {
        var bytes = new byte[salt.Length + Encoding.UTF8.GetByteCount(value)];
        salt.CopyTo(bytes, 0);
        Encoding.UTF8.GetBytes(value, bytes.AsSpan(salt.Length));
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    public bool Hashes(string field) => _fields.Contains(field);

    public string Hash(string value) => Hash(_salt, value);

    /// <summary>The event with the fields hashed; the event itself when it carries none of them (it is never changed).</summary>
    public EnrichedEvent Apply(EnrichedEvent envelope)
    {
        if (envelope.Event is not { } e || !Array.Exists(_fields, f => DeletionRule.ValueOf(e, f).Length > 0))
        {
            return envelope;
        }
        var copy = envelope.Clone();
        foreach (var field in _fields)
        {
            var value = DeletionRule.ValueOf(e, field);
            if (value.Length == 0)
            {
                continue;
            }
            var hashed = Hash(value);
            switch (field)
            {
                case DeletionIdentifiers.DeviceId: copy.Event.DeviceId = hashed; break;
                case DeletionIdentifiers.VisitorId: copy.Event.VisitorId = hashed; break;
                case DeletionIdentifiers.CustomerId: copy.Event.CustomerId = hashed; break;
                case DeletionIdentifiers.UserId: copy.Event.UserId = hashed; break;
                case DeletionIdentifiers.SessionId: copy.Event.SessionId = hashed; break;
            }
        }
        return copy;
    }
}
