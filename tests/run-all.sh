#!/usr/bin/env bash
# Runs every test: unit and model tests, live-node tests with aws-sdk-s3, crash and fault
# tests, then the compatibility scripts (aws cli, boto3, s3cmd, rclone) and the s3-tests
# conformance suite against a real node. Needs the tools `.ci/run` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
echo "== crash test (kill -9 under load)"
python3 tests/crash/crash.py target/debug/tessera --cycles "${TESSERA_CRASH_CYCLES:-20}"
for script in tests/live/*.sh tests/compat/*.sh tests/s3tests/run.sh; do
    [ -f "$script" ] || continue
    echo "== $script"
    bash "$script"
done
