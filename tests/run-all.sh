#!/usr/bin/env bash
# Runs every test: unit and model tests, live-node tests with aws-sdk-s3, crash and fault
# tests, then the live scripts (metrics, tessera-bench), the compatibility scripts (aws cli,
# boto3, s3cmd, rclone) and the s3-tests conformance suite against real nodes. Installs
# those clients first when missing (tests/install-deps.sh). Every step runs even if an
# earlier one failed; the exit status says whether all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# A one-shot build gains nothing from incremental state, and it costs gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
bash tests/install-deps.sh || exit 1
failed=()
step() {
    local name=$1
    shift
    echo "== $name"
    if ! "$@"; then
        echo "!! FAILED: $name"
        failed+=("$name")
    fi
}
cargo build --workspace --all-targets || exit 1
echo "disk after build: $(du -sh target 2>/dev/null | cut -f1) in target/, $(df -h . | awk 'NR==2 {print $4}') free"
step "cargo test" cargo test --workspace -- --test-threads=2
step "crash test (kill -9 under load)" python3 tests/crash/crash.py target/debug/tessera --cycles "${TESSERA_CRASH_CYCLES:-20}"
for script in tests/live/*.sh tests/compat/*.sh tests/s3tests/run.sh; do
    case "$script" in */lib.sh) continue ;; esac
    [ -f "$script" ] || continue
    step "$script" bash "$script"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all test steps passed"
