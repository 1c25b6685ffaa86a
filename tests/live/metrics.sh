#!/usr/bin/env bash
# /health and /metrics on a live node: traffic through boto3 must move the counters.
set -euo pipefail
source "$(dirname "$0")/../compat/lib.sh"
tessera_start
python3 "$(dirname "$0")/metrics.py" "$TESSERA_ENDPOINT" "http://127.0.0.1:$TESSERA_ADMIN_PORT" "$AK" "$SK"
