namespace Beacon.Admin.Management;

/// <summary>A store already has as many pipelines or tokens as <see cref="AdminOptions"/> allows; the message says which and how many.</summary>
public sealed class StoreQuotaExceededException(string message) : Exception(message);
