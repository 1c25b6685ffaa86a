#!/usr/bin/env bash
# Compatibility: boto3 against a fresh node (the checks live in boto3_compat.py, and
# post_object.py for browser form uploads).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
tessera_start
export TESSERA_WORK
# Bounded: each run takes well under a minute. Both run, then the status says if either failed.
rc=0
timeout --kill-after=10 300 python3 "$HERE/boto3_compat.py" || rc=1
# Browser form uploads (POST Object), forms signed by boto3's generate_presigned_post.
timeout --kill-after=10 300 python3 "$HERE/post_object.py" || rc=1
exit "$rc"
