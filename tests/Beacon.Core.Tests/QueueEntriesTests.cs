using Beacon.Core.Queue;
using Beacon.Protos.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using StackExchange.Redis;

namespace Beacon.Core.Tests;

/// <summary>The store of an entry whose events cannot be read is still told from its envelopes, for the quarantine.</summary>
public sealed class QueueEntriesTests
{
    [Fact]
    public void TheStoreOfAnEntryTooDeepToReadIsFoundInItsSharedOrOwnEnvelopes()
    {
        var storeId = Guid.CreateVersion7();
        var deep = new Event { EventType = "page_view", ContextualData = Nested(33) };
        var shared = QueueEntries.Fields([new EnrichedEvent { StoreId = storeId.ToString(), Event = deep }]);
        // Envelopes that differ are written whole, each with its own store id (here after the event).
        var own = new EnrichedEventBatch
        {
            Events =
            {
                new EnrichedEvent { Event = deep, StoreId = storeId.ToString(), Source = "grpc" },
                new EnrichedEvent { Event = deep, StoreId = storeId.ToString(), Source = "beacon" },
            },
        };

        Assert.Throws<InvalidProtocolBufferException>(() => QueueEntries.Read(shared));
        Assert.Equal(storeId, QueueEntries.StoreIdOf(shared));
        Assert.Equal(storeId, QueueEntries.StoreIdOf([new NameValueEntry(QueueKeys.BatchField, own.ToByteArray())]));
    }

    [Fact]
    public void NoStoreIsMadeUpFromBytesThatNameNone()
    {
        Assert.Null(QueueEntries.StoreIdOf([new NameValueEntry(QueueKeys.BatchField, new byte[] { 0x0A, 0xFF, 0x01, 0x02 })]));
        Assert.Null(QueueEntries.StoreIdOf([new NameValueEntry("payload", "{}"u8.ToArray())]));
        var notAGuid = new EnrichedEventBatch { Events = { new EnrichedEvent { StoreId = "store-1", Event = new Event() } } };
        Assert.Null(QueueEntries.StoreIdOf([new NameValueEntry(QueueKeys.BatchField, notAGuid.ToByteArray())]));
    }

    private static Struct Nested(int objects)
    {
        var value = new Struct { Fields = { ["k"] = Value.ForNumber(1) } };
        for (var i = 1; i < objects; i++)
        {
            value = new Struct { Fields = { ["k"] = Value.ForStruct(value) } };
        }
        return value;
    }
}
