#!/usr/bin/env bash
# Compatibility: boto3 against a fresh node (the checks live in boto3_compat.py).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
tessera_start
export TESSERA_WORK
# Bounded: the whole run takes well under a minute.
timeout --kill-after=10 300 python3 "$HERE/boto3_compat.py"
