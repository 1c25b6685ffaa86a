#!/usr/bin/env bash
# tessera-bench against a live node: every subcommand runs for a few seconds (the bench's
# own live tests), so CI proves the load generator and the node work together.
set -euo pipefail
source "$(dirname "$0")/../compat/lib.sh"
tessera_start
export TESSERA_BENCH_TEST_ENDPOINT="127.0.0.1:$TESSERA_PORT"
export TESSERA_BENCH_TEST_ACCESS_KEY="$AK" TESSERA_BENCH_TEST_SECRET_KEY="$SK"
cd "$TESSERA_ROOT"
cargo test -q -p tessera-bench --test live -- --test-threads=1
