#!/usr/bin/env bash
# Compatibility: s3cmd against a fresh node — mb, put (single and multipart), get, ls/la, du,
# sync up and down, cp, mv, del, rb — with SigV4 and path-style addressing. Every downloaded
# byte is checked by SHA-256.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
set -e
tessera_start
set +e

WORK="$TESSERA_WORK/s3cmd"
mkdir -p "$WORK/up/sub" "$WORK/down"
S3CMD_BIN="$(command -v s3cmd)" || { echo "FAIL: s3cmd is not installed (see .ci/run)"; exit 1; }
# host_bucket without %(bucket)s: path-style requests to the node's address.
cat >"$WORK/s3cfg" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$TESSERA_PORT
host_bucket = 127.0.0.1:$TESSERA_PORT
bucket_location = us-east-1
use_https = False
signature_v2 = False
check_ssl_certificate = False
multipart_chunk_size_mb = 5
progress_meter = False
EOF
# Bounded: every s3cmd call gets at most 120 s.
s3c() { timeout 120 "$S3CMD_BIN" -c "$WORK/s3cfg" --no-progress "$@"; }
export S3CMD_BIN WORK
export -f s3c

B=compat-s3cmd
head -c 4096 /dev/urandom >"$WORK/up/small.bin"
head -c $((13 * 1024 * 1024 + 1)) /dev/urandom >"$WORK/up/large.bin" # 3 parts of 5 MiB
head -c $((700 * 1024)) /dev/urandom >"$WORK/up/sub/mid.bin"
printf 'a key with spaces\n' >"$WORK/up/sub/with space.txt"

check "mb" s3c mb "s3://$B"
check "ls buckets" bash -c "s3c ls | grep -q 's3://$B\$'"
check "put small" s3c put "$WORK/up/small.bin" "s3://$B/put/small.bin"
check "put large (multipart)" s3c put "$WORK/up/large.bin" "s3://$B/put/large.bin"
check "get small" s3c get "s3://$B/put/small.bin" "$WORK/down/small.bin"
check "content of small" same_file "$WORK/up/small.bin" "$WORK/down/small.bin"
check "get large" s3c get "s3://$B/put/large.bin" "$WORK/down/large.bin"
check "content of large" same_file "$WORK/up/large.bin" "$WORK/down/large.bin"
check "ls shows both" bash -c "test \"\$(s3c ls s3://$B/put/ | wc -l)\" -eq 2"
check "du counts the bytes" bash -c \
    "test \"\$(s3c du s3://$B/put/ | awk '{print \$1}')\" -eq $((4096 + 13 * 1024 * 1024 + 1))"
check "sync up" s3c sync "$WORK/up/" "s3://$B/tree/"
check "la lists the synced tree" bash -c "s3c la --recursive | grep -c 's3://$B/tree/' | grep -qx 4"
check "sync down" s3c sync "s3://$B/tree/" "$WORK/tree/"
check "synced tree is identical" diff -r "$WORK/up" "$WORK/tree"
head -c 5000 /dev/urandom >"$WORK/up/small.bin"
rm "$WORK/up/sub/mid.bin"
check "sync --delete-removed after a change and a removal" s3c sync --delete-removed "$WORK/up/" "s3://$B/tree/"
rm -rf "$WORK/tree"
check "sync down again" s3c sync "s3://$B/tree/" "$WORK/tree/"
check "tree is identical after the second sync" diff -r "$WORK/up" "$WORK/tree"
check "cp (server-side copy)" s3c cp "s3://$B/put/large.bin" "s3://$B/copy/large.bin"
check "get the copy" s3c get "s3://$B/copy/large.bin" "$WORK/down/copy.bin"
check "content of the copy" same_file "$WORK/up/large.bin" "$WORK/down/copy.bin"
check "mv" s3c mv "s3://$B/copy/large.bin" "s3://$B/moved/large.bin"
check "mv source is gone" bash -c "test -z \"\$(s3c ls s3://$B/copy/)\""
check "get the moved object" s3c get "s3://$B/moved/large.bin" "$WORK/down/moved.bin"
check "content of the moved object" same_file "$WORK/up/large.bin" "$WORK/down/moved.bin"
check "del one object" s3c del "s3://$B/put/small.bin"
check "del --recursive --force" s3c del --recursive --force "s3://$B"
check "bucket is empty" bash -c "test -z \"\$(s3c ls --recursive s3://$B)\""
check "rb" s3c rb "s3://$B"
check "bucket is gone" bash -c "! s3c ls | grep -q 's3://$B\$'"

finish s3cmd
