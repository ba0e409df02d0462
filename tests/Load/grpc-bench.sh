#!/usr/bin/env bash
# gRPC ingestion benchmark (docs/benchmarks-grpc.md): Release Ingestion.Api, real Postgres and Redis (AOF everysec),
# gRPC Stream and Send with 100-event batches, and POST /beacon with wrk in the same run.
# Usage: tests/Load/grpc-bench.sh [seconds=20] [streams=8] [window=16] [concurrency=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release Ingestion.Api -o tests/Load/bin/ingestion-grpc -v q -nologo
dotnet run -c Release --project tests/Load/GrpcBench -- tests/Load/bin/ingestion-grpc/Ingestion.Api.dll "${1:-20}" "${2:-8}" "${3:-16}" "${4:-64}"
