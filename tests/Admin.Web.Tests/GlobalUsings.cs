global using Beacon.TestHost;
