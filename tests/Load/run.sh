#!/usr/bin/env bash
# Builds Ingestion.Api and the bare Kestrel endpoint in Release and load-tests both with wrk
# (apt-get install -y wrk). Usage: tests/Load/run.sh [seconds=10] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release Ingestion.Api -o tests/Load/bin/ingestion -v q -nologo
dotnet build -c Release tests/Load/BareKestrel -o tests/Load/bin/bare -v q -nologo
dotnet run -c Release --project tests/Load/LoadRunner -- tests/Load/bin/ingestion/Ingestion.Api.dll tests/Load/bin/bare/BareKestrel.dll "${1:-10}" "${2:-64}"
