#!/usr/bin/env bash
# Compatibility: rclone against a fresh node — mkdir, copy, sync (with deletions), check
# (hashes compared by rclone itself: MD5 from ETags, and the MD5 rclone stores in metadata for
# multipart uploads), lsf, copy back with SHA-256 comparison, server-side copy, delete, purge.
# Multipart is forced with a 5 MiB upload cutoff and chunk size.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
set -e
tessera_start
set +e

WORK="$TESSERA_WORK/rclone"
mkdir -p "$WORK/src/sub/deeper"
RCLONE_BIN="$(command -v rclone)" || { echo "FAIL: rclone is not installed (see .ci/run)"; exit 1; }
# The remote `t:` comes from the environment only; no rclone.conf is read or written.
export RCLONE_CONFIG="$WORK/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_T_TYPE=s3 RCLONE_CONFIG_T_PROVIDER=Other RCLONE_CONFIG_T_ENV_AUTH=false
export RCLONE_CONFIG_T_ACCESS_KEY_ID="$AK" RCLONE_CONFIG_T_SECRET_ACCESS_KEY="$SK"
export RCLONE_CONFIG_T_ENDPOINT="$TESSERA_ENDPOINT" RCLONE_CONFIG_T_REGION=us-east-1
export RCLONE_CONFIG_T_FORCE_PATH_STYLE=true
export RCLONE_S3_UPLOAD_CUTOFF=5M RCLONE_S3_CHUNK_SIZE=5M
# Bounded: every call at most 120 s; no retries, so a failure shows at once. AWS_CA_BUNDLE
# (set on some machines) makes rclone's SDK fail to build its HTTP client; the node is plain
# HTTP on loopback, so no CA bundle is wanted.
rc() { timeout 120 env -u AWS_CA_BUNDLE "$RCLONE_BIN" --retries 1 --low-level-retries 1 --contimeout 10s --timeout 60s "$@"; }
export RCLONE_BIN WORK
export -f rc

B=compat-rclone
head -c 2000 /dev/urandom >"$WORK/src/small.bin"
head -c $((17 * 1024 * 1024 + 3)) /dev/urandom >"$WORK/src/large.bin" # 4 parts of 5 MiB
head -c $((900 * 1024)) /dev/urandom >"$WORK/src/sub/mid.bin"
: >"$WORK/src/sub/empty.bin"
printf 'unicode and spaces\n' >"$WORK/src/sub/deeper/fichier é.txt"

check "mkdir (create bucket)" rc mkdir "t:$B"
check "lsd shows the bucket" bash -c "rc lsd t: | grep -q ' $B\$'"
check "copy up" rc copy "$WORK/src" "t:$B/tree"
check "check (hashes and sizes)" rc check "$WORK/src" "t:$B/tree"
check "check --download (byte-for-byte)" rc check --download "$WORK/src" "t:$B/tree"
check "lsf lists 5 files" bash -c "test \"\$(rc lsf -R --files-only t:$B/tree | wc -l)\" -eq 5"
check "md5sum of the multipart object matches" bash -c \
    "test \"\$(rc md5sum t:$B/tree/large.bin | cut -d' ' -f1)\" = \"\$(md5sum '$WORK/src/large.bin' | cut -d' ' -f1)\""
check "copy down" rc copy "t:$B/tree" "$WORK/down"
check "copied-down tree is identical" diff -r "$WORK/src" "$WORK/down"
check "sha256 of the large file" same_file "$WORK/src/large.bin" "$WORK/down/large.bin"
head -c 3000 /dev/urandom >"$WORK/src/small.bin"
rm "$WORK/src/sub/mid.bin"
head -c $((6 * 1024 * 1024)) /dev/urandom >"$WORK/src/sub/new.bin"
check "sync after a change, a removal and an addition" rc sync "$WORK/src" "t:$B/tree"
check "check after sync" rc check "$WORK/src" "t:$B/tree"
check "removed file is gone remotely" bash -c "! rc lsf t:$B/tree/sub | grep -q '^mid.bin\$'"
check "server-side copy (copyto)" rc copyto "t:$B/tree/large.bin" "t:$B/copy/large.bin"
check "check the server-side copy" bash -c \
    "rc cat t:$B/copy/large.bin | sha256sum | cut -d' ' -f1 | grep -qx \"\$(sha256sum '$WORK/src/large.bin' | cut -d' ' -f1)\""
check "delete one file" rc deletefile "t:$B/copy/large.bin"
check "sync down into a fresh directory" rc sync "t:$B/tree" "$WORK/down2"
check "synced-down tree is identical" diff -r "$WORK/src" "$WORK/down2"
check "purge the bucket" rc purge "t:$B"
check "bucket is gone" bash -c "! rc lsd t: | grep -q ' $B\$'"

finish rclone
