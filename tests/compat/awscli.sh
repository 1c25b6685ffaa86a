#!/usr/bin/env bash
# Compatibility: the AWS CLI against a fresh node, as people use it — `aws s3 cp/sync/ls/rm/
# presign` and `aws s3api` calls — with the CLI's default checksum settings (botocore >= 1.36
# sends CRC32 checksums in aws-chunked trailers), and once more with the legacy behaviour
# (AWS_REQUEST_CHECKSUM_CALCULATION=when_required). Every downloaded byte is checked by SHA-256.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/lib.sh"
set -e
tessera_start
set +e

WORK="$TESSERA_WORK/awscli"
mkdir -p "$WORK/up/sub/deeper" "$WORK/down"
# Isolate the CLI from any configuration on the machine.
export AWS_ACCESS_KEY_ID="$AK" AWS_SECRET_ACCESS_KEY="$SK" AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="$WORK/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials"
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_MAX_ATTEMPTS=1
# AWS CLI v2 signs everything, presigned URLs included, with SigV4; the v1 CLI that pip
# installs still presigns with SigV2 unless told otherwise.
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
# Bounded: every CLI call gets at most 120 s. Exported for the checks run under `bash -c`.
AWS_BIN="$(command -v aws)" || { echo "FAIL: aws is not installed (see .ci/run)"; exit 1; }
aws() { timeout 120 "$AWS_BIN" --endpoint-url "$TESSERA_ENDPOINT" "$@"; }
export AWS_BIN
export -f aws

B=compat-awscli
head -c 1024 /dev/urandom >"$WORK/up/small.bin"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$WORK/up/sub/medium.bin"
head -c $((21 * 1024 * 1024 + 5)) /dev/urandom >"$WORK/up/large.bin" # multipart (8 MiB parts)
: >"$WORK/up/empty.bin"
printf 'spaces and unicode\n' >"$WORK/up/sub/deeper/na me+é.txt"

check "mb" aws s3 mb "s3://$B"
check "ls buckets shows the bucket" bash -c "aws s3 ls | grep -q ' $B\$'"
for f in small.bin sub/medium.bin large.bin empty.bin; do
    check "cp up $f" aws s3 cp --only-show-errors "$WORK/up/$f" "s3://$B/cp/$f"
    check "cp down $f" aws s3 cp --only-show-errors "s3://$B/cp/$f" "$WORK/down/cp-$(basename "$f")"
    check "content of $f" same_file "$WORK/up/$f" "$WORK/down/cp-$(basename "$f")"
done
check "large.bin was uploaded in parts (ETag -N)" bash -c \
    "aws s3api head-object --bucket $B --key cp/large.bin --query ETag --output text | grep -q -- '-3\"\$'"
check "cp from stdin (streamed, size unknown)" bash -c \
    "cat '$WORK/up/large.bin' | aws s3 cp --only-show-errors - s3://$B/stdin/large.bin"
check "cp to stdout" bash -c "aws s3 cp --only-show-errors s3://$B/stdin/large.bin - >'$WORK/down/stdout.bin'"
check "content via stdin/stdout" same_file "$WORK/up/large.bin" "$WORK/down/stdout.bin"
check "cp s3 to s3 (server-side copy)" aws s3 cp --only-show-errors "s3://$B/cp/large.bin" "s3://$B/copied/large.bin"
check "cp down the copy" aws s3 cp --only-show-errors "s3://$B/copied/large.bin" "$WORK/down/copied.bin"
check "content of the copy" same_file "$WORK/up/large.bin" "$WORK/down/copied.bin"

# sync up, sync down, compare trees; then change one file, delete one, sync --delete.
check "sync up" aws s3 sync --only-show-errors "$WORK/up" "s3://$B/tree"
check "sync down" aws s3 sync --only-show-errors "s3://$B/tree" "$WORK/tree"
check "synced tree is identical" diff -r "$WORK/up" "$WORK/tree"
check "ls --recursive lists 5 objects under tree/" bash -c \
    "test \"\$(aws s3 ls --recursive s3://$B/tree/ | wc -l)\" -eq 5"
check "ls shows the key with spaces and unicode" bash -c \
    "aws s3 ls --recursive s3://$B/tree/ | grep -q 'tree/sub/deeper/na me+é.txt'"
head -c 2048 /dev/urandom >"$WORK/up/small.bin"
rm "$WORK/up/empty.bin"
check "sync --delete after a change and a removal" aws s3 sync --only-show-errors --delete "$WORK/up" "s3://$B/tree"
rm -rf "$WORK/tree"
check "sync down again" aws s3 sync --only-show-errors "s3://$B/tree" "$WORK/tree"
check "tree is identical after the second sync" diff -r "$WORK/up" "$WORK/tree"

# The legacy checksum behaviour: plain signed bodies, Content-MD5 where botocore adds one.
check "cp up with checksums only when required" env AWS_REQUEST_CHECKSUM_CALCULATION=when_required \
    bash -c "aws s3 cp --only-show-errors '$WORK/up/large.bin' s3://$B/legacy/large.bin"
check "cp down (legacy upload)" aws s3 cp --only-show-errors "s3://$B/legacy/large.bin" "$WORK/down/legacy.bin"
check "content (legacy upload)" same_file "$WORK/up/large.bin" "$WORK/down/legacy.bin"

# presign: a plain HTTP GET with no credentials.
url="$(aws s3 presign "s3://$B/cp/sub/medium.bin" --expires-in 300 2>/dev/null || true)"
check "presigned GET with curl" curl -fsS --max-time 60 -o "$WORK/down/presigned.bin" "$url"
check "content via presigned URL" same_file "$WORK/up/sub/medium.bin" "$WORK/down/presigned.bin"

# s3api: the calls scripts make.
check "s3api head-bucket" aws s3api head-bucket --bucket "$B"
check "s3api get-bucket-location" aws s3api get-bucket-location --bucket "$B"
check "s3api put-object with SHA256 checksum" aws s3api put-object --bucket "$B" --key api/obj \
    --body "$WORK/up/sub/medium.bin" --checksum-algorithm SHA256
want_sha="$(openssl dgst -sha256 -binary "$WORK/up/sub/medium.bin" | base64)"
check "s3api head-object --checksum-mode ENABLED returns it" bash -c \
    "aws s3api head-object --bucket $B --key api/obj --checksum-mode ENABLED --query ChecksumSHA256 --output text | grep -qxF '$want_sha'"
check "s3api head-object size" bash -c \
    "test \"\$(aws s3api head-object --bucket $B --key api/obj --query ContentLength --output text)\" -eq $((3 * 1024 * 1024 + 17))"
check "s3api get-object --range" aws s3api get-object --bucket "$B" --key api/obj --range bytes=100-1123 "$WORK/down/range.bin"
check "range content" bash -c "cmp <(tail -c +101 '$WORK/up/sub/medium.bin' | head -c 1024) '$WORK/down/range.bin'"
check "s3api put-object with metadata and content type" aws s3api put-object --bucket "$B" --key api/meta \
    --body "$WORK/up/small.bin" --content-type text/x-tessera --metadata color=blue
check "metadata and content type read back" bash -c \
    "aws s3api head-object --bucket $B --key api/meta --output json | python3 -c 'import json,sys; h=json.load(sys.stdin); assert h[\"ContentType\"]==\"text/x-tessera\" and h[\"Metadata\"]=={\"color\":\"blue\"}, h'"
check "s3api copy-object" aws s3api copy-object --bucket "$B" --key api/copy --copy-source "$B/api/obj"
# What tools read before they copy or manage a bucket: S3's answers for "none".
check "s3api get-object-tagging: no tags" bash -c \
    "test \"\$(aws s3api get-object-tagging --bucket $B --key api/obj --query 'length(TagSet)' --output text)\" = 0"
check "s3api get-bucket-versioning: never enabled" bash -c \
    "test -z \"\$(aws s3api get-bucket-versioning --bucket $B --output text)\""
check "s3api get-bucket-cors: NoSuchCORSConfiguration" bash -c \
    "aws s3api get-bucket-cors --bucket $B 2>&1 | grep -q NoSuchCORSConfiguration"
check "s3api get-object of the copy" aws s3api get-object --bucket "$B" --key api/copy "$WORK/down/api-copy.bin"
check "content of the s3api copy" same_file "$WORK/up/sub/medium.bin" "$WORK/down/api-copy.bin"

# Multipart by hand: 2 parts of 5 MiB + 1 MiB.
head -c $((11 * 1024 * 1024)) /dev/urandom >"$WORK/up-mp.bin"
split -b $((5 * 1024 * 1024)) -d "$WORK/up-mp.bin" "$WORK/part."
upload_id="$(aws s3api create-multipart-upload --bucket "$B" --key api/mp --query UploadId --output text)"
check "s3api create-multipart-upload" test -n "$upload_id"
parts=""
n=1
for p in "$WORK"/part.*; do
    etag="$(aws s3api upload-part --bucket "$B" --key api/mp --upload-id "$upload_id" \
        --part-number "$n" --body "$p" --query ETag --output text)"
    parts="$parts{\"ETag\":$etag,\"PartNumber\":$n},"
    n=$((n + 1))
done
echo "{\"Parts\":[${parts%,}]}" >"$WORK/parts.json"
check "s3api list-parts shows 3 parts" bash -c \
    "test \"\$(aws s3api list-parts --bucket $B --key api/mp --upload-id $upload_id --query 'length(Parts)' --output text)\" -eq 3"
check "s3api list-multipart-uploads shows it" bash -c \
    "aws s3api list-multipart-uploads --bucket $B --query 'Uploads[].UploadId' --output text | grep -q $upload_id"
check "s3api complete-multipart-upload" aws s3api complete-multipart-upload --bucket "$B" --key api/mp \
    --upload-id "$upload_id" --multipart-upload "file://$WORK/parts.json"
check "s3api get-object of the multipart object" aws s3api get-object --bucket "$B" --key api/mp "$WORK/down/mp.bin"
check "content of the multipart object" same_file "$WORK/up-mp.bin" "$WORK/down/mp.bin"
aborted="$(aws s3api create-multipart-upload --bucket "$B" --key api/aborted --query UploadId --output text)"
check "s3api abort-multipart-upload" aws s3api abort-multipart-upload --bucket "$B" --key api/aborted --upload-id "$aborted"

# Listing with paging: 25 keys, 10 per page.
mkdir -p "$WORK/page"
for i in $(seq -w 1 25); do printf '%s' "$i" >"$WORK/page/k$i"; done
check "put 25 small objects (cp --recursive)" aws s3 cp --only-show-errors --recursive "$WORK/page" "s3://$B/page/"
check "list-objects-v2 pages through 25 keys" bash -c \
    "test \"\$(aws s3api list-objects-v2 --bucket $B --prefix page/ --page-size 10 --query 'Contents[].Key' --output text | wc -w)\" -eq 25"
check "list-objects (v1) pages through 25 keys" bash -c \
    "test \"\$(aws s3api list-objects --bucket $B --prefix page/ --page-size 10 --query 'Contents[].Key' --output text | wc -w)\" -eq 25"
check "list-objects-v2 with delimiter" bash -c \
    "aws s3api list-objects-v2 --bucket $B --delimiter / --query 'CommonPrefixes[].Prefix' --output text | grep -q 'page/'"
check "list-object-versions (every object is version null)" bash -c \
    "aws s3api list-object-versions --bucket $B --prefix page/ --query 'Versions[].VersionId' --output text | tr '\t' '\n' | sort -u | grep -qx null"
check "s3api delete-objects" aws s3api delete-objects --bucket "$B" \
    --delete "{\"Objects\":[{\"Key\":\"page/k01\"},{\"Key\":\"page/k02\"}],\"Quiet\":true}"
check "s3api delete-object" aws s3api delete-object --bucket "$B" --key page/k03
check "22 keys left under page/" bash -c \
    "test \"\$(aws s3 ls s3://$B/page/ | wc -l)\" -eq 22"
check "s3 rm one object" aws s3 rm --only-show-errors "s3://$B/cp/small.bin"
check "rm'd object is gone" bash -c "! aws s3api head-object --bucket $B --key cp/small.bin >/dev/null 2>&1"
check "s3 rm --recursive" aws s3 rm --only-show-errors --recursive "s3://$B"
check "bucket is empty" bash -c "test -z \"\$(aws s3 ls --recursive s3://$B)\""
check "rb" aws s3 rb "s3://$B"
check "bucket is gone" bash -c "! aws s3api head-bucket --bucket $B >/dev/null 2>&1"

finish awscli
