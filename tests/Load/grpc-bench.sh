#!/usr/bin/env bash
# gRPC ingestion benchmark (results kept in docs/benchmarks.md): Release Ingestion.Api, real Postgres and Redis (AOF everysec),
# gRPC Stream and Send with 100-event batches, and POST /beacon with wrk in the same run.
# Usage: tests/Load/grpc-bench.sh [seconds=15] [streams=8] [window=8] [concurrency=64: Send calls and wrk connections]   (BENCH_ROUNDS=3, BENCH_RUNS=json,stream,send)
# BENCH_SERVICE_CPUS=1 pins Ingestion.Api to CPU 1 and everything else to the other CPUs (BENCH_OTHER_CPUS, default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release Ingestion.Api -o tests/Load/bin/ingestion-grpc -v q -nologo
dotnet build -c Release tests/Load/GrpcBench -v q -nologo
pin=()
if [[ -n "${BENCH_SERVICE_CPUS:-}" ]]; then pin=(taskset -c "${BENCH_OTHER_CPUS:-0}"); fi
"${pin[@]}" dotnet run --no-build -c Release --project tests/Load/GrpcBench -- tests/Load/bin/ingestion-grpc/Ingestion.Api.dll "${1:-15}" "${2:-8}" "${3:-8}" "${4:-64}"
