#!/usr/bin/env bash
# Side-by-side S3 benchmark: tessera, s3s-fs and (if installed) Garage, each driven by the
# same tessera-bench runs in one session on this machine, with server CPU per request read
# from /proc. Prints a markdown table (also written to $OUT, default /tmp/tessera-compare.md).
#
#   bench/scripts/compare.sh [SECONDS_PER_RUN]      (LIST_1M=1 adds a 1,000,000-key listing)
#   ONLY="put --obj.size 1MiB --concurrent 16" SERVERS="tessera s3s-fs" BASELINE=/tmp/old-tessera …
#   REVERSE=1 …                                     (servers in the opposite order)
#
# Needs: cargo build --release -p tessera -p tessera-bench; s3s-fs (cargo install
# s3s-fs@0.14.1 --features binary --locked); garage optional (cargo install garage@2.5.0
# --no-default-features --features bundled-libs,lmdb). Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
out=${OUT:-/tmp/tessera-compare.md}
work=$(mktemp -d /tmp/tessera-compare.XXXXXX)
AK=compareaccesskey0001 SK=comparesecretkey000000000000000000000001
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bench=target/release/tessera-bench

# start_tessera BINARY NAME PORT: S3 on PORT, admin on PORT+1; sets STARTED_PID.
start_tessera() {
    local bin=$1 name=$2 port=$3
    "$bin" serve --data-dir "$work/$name" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
        --access-key "$AK" --secret-key "$SK" >"$work/$name.log" 2>&1 &
    pids+=($!); STARTED_PID=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((port + 1))/health" >/dev/null && return; sleep 0.1; done
    echo "$name did not start" >&2; exit 1
}

start_s3s() {
    mkdir -p "$work/s3s"
    s3s-fs --host 127.0.0.1 --port 19100 --access-key "$AK" --secret-key "$SK" "$work/s3s" >"$work/s3s.log" 2>&1 &
    pids+=($!); S3S_PID=$!
    sleep 1
}

start_garage() {
    command -v garage >/dev/null || return 1
    mkdir -p "$work/garage/meta" "$work/garage/data"
    cat >"$work/garage.toml" <<TOML
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:19301"
rpc_public_addr = "127.0.0.1:19301"
rpc_secret = "$(openssl rand -hex 32 2>/dev/null || python3 -c 'import secrets;print(secrets.token_hex(32))')"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:19200"
root_domain = ".s3.garage.localhost"
TOML
    RUST_LOG=warn garage -c "$work/garage.toml" server >"$work/garage.log" 2>&1 &
    pids+=($!); GARAGE_PID=$!
    sleep 2
    local id
    id=$(garage -c "$work/garage.toml" node id -q 2>/dev/null | cut -d@ -f1)
    garage -c "$work/garage.toml" layout assign -z dc1 -c 10G "$id" >/dev/null
    garage -c "$work/garage.toml" layout apply --version 1 >/dev/null
    garage -c "$work/garage.toml" key import --yes -n bench "GK$(echo -n $AK | od -An -tx1 | tr -d ' \n' | head -c 24)" "$(python3 -c 'import hashlib,sys;print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' "$SK")" >/dev/null 2>&1 || true
    GARAGE_AK=$(garage -c "$work/garage.toml" key list 2>/dev/null | awk '/GK/{print $1; exit}')
    GARAGE_SK=$(garage -c "$work/garage.toml" key info --show-secret "$GARAGE_AK" 2>/dev/null | awk '/Secret key/{print $3}')
    garage -c "$work/garage.toml" key allow --create-bucket "$GARAGE_AK" >/dev/null
    return 0
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# run NAME HOST AK SK PID -- bench args...
# Server CPU is sampled every 100 ms while the bench runs, and only the samples inside the
# benchmark phase (not the upload of its objects) count.
run() {
    local name=$1 host=$2 ak=$3 sk=$4 pid=$5; shift 6
    : >"$work/cpu.log"
    ( while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s.%N) $(cpu_ticks "$pid")"; sleep 0.1; done ) >"$work/cpu.log" &
    local sampler=$!
    $bench "$@" --host "$host" --access-key "$ak" --secret-key "$sk" --duration "${secs}s" --json -q \
        >"$work/report.json" 2>/dev/null || true
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    python3 - "$name" "$(getconf CLK_TCK)" "$work/report.json" "$work/cpu.log" "$*" <<'PY'
import bisect, datetime, json, sys
name, hz, path, cpu_log, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
try:
    report = json.load(open(path))
    phase = [p for p in report["phases"] if p["phase"] == "benchmark"][0]
except Exception:
    print(f"| {name} | {args} | failed | | | | |")
    sys.exit(0)
ops = phase["operations"]
reqs = sum(o["requests"] for o in ops)
errors = sum(o["errors"] for o in ops)
mib = sum(o["average"]["mib_per_s"] for o in ops)
rps = sum(o["requests_per_s"] for o in ops)
p50 = max(o["latency"]["p50_ms"] for o in ops)
p99 = max(o["latency"]["p99_ms"] for o in ops)
start = min(datetime.datetime.fromisoformat(o["average"]["start"].replace("Z", "+00:00")[:26] + "+00:00").timestamp() for o in ops)
window = max(o["average"]["duration_s"] for o in ops)
samples = [tuple(map(float, l.split())) for l in open(cpu_log) if len(l.split()) == 2]
times = [t for t, _ in samples]
def ticks_at(t):
    i = min(max(bisect.bisect_left(times, t), 0), len(samples) - 1)
    return samples[i][1]
cpu_s = (ticks_at(start + window) - ticks_at(start)) / hz
in_window = sum(o["requests_per_s"] for o in ops) * window
per = (cpu_s / in_window * 1e6) if in_window else 0
note = f" ({errors} errors)" if errors else ""
print(f"| {name} | {args}{note} | {mib:.1f} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {per:.0f} |")
PY
}

start_tessera target/release/tessera tessera 19000
servers=("tessera 127.0.0.1:19000 $AK $SK $STARTED_PID")
# BASELINE=/path/to/an/older/tessera adds it as "tessera-base": an A/B of two builds, same run.
if [ -n "${BASELINE:-}" ]; then
    start_tessera "$BASELINE" tessera-base 19010
    servers+=("tessera-base 127.0.0.1:19010 $AK $SK $STARTED_PID")
fi
start_s3s
servers+=("s3s-fs 127.0.0.1:19100 $AK $SK $S3S_PID")
if start_garage; then servers+=("garage 127.0.0.1:19200 $GARAGE_AK $GARAGE_SK $GARAGE_PID"); fi
workloads=(
    "get --obj.size 4KiB --objects 1000 --concurrent 16" "get --obj.size 4KiB --objects 1000 --concurrent 64"
    "put --obj.size 4KiB --concurrent 16" "put --obj.size 4KiB --concurrent 64"
    "get --obj.size 64KiB --objects 500 --concurrent 16" "get --obj.size 64KiB --objects 500 --concurrent 64"
    "put --obj.size 64KiB --concurrent 16" "put --obj.size 64KiB --concurrent 64"
    "get --obj.size 1MiB --objects 200 --concurrent 16" "get --obj.size 1MiB --objects 200 --concurrent 64"
    "put --obj.size 1MiB --concurrent 16" "put --obj.size 1MiB --concurrent 64"
    "get --obj.size 16MiB --objects 32 --concurrent 16" "get --obj.size 16MiB --objects 32 --concurrent 64"
    "put --obj.size 16MiB --concurrent 16" "put --obj.size 16MiB --concurrent 64"
    "mixed --obj.size 1MiB --objects 200 --concurrent 16"
    "list --obj.size 1KB --objects 10000 --concurrent 1"
)
[ -n "${LIST_1M:-}" ] && workloads+=("list --obj.size 1 --objects 1000000 --concurrent 8")
# ONLY="get --obj.size 4KiB ..." runs that one workload instead.
[ -n "${ONLY:-}" ] && workloads=("$ONLY")
# REVERSE=1 runs the servers in the opposite order (whichever runs first in a session tends to
# measure lower here): run a comparison both ways to see the order's effect.
if [ -n "${REVERSE:-}" ]; then
    reversed=()
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do reversed+=("${servers[$i]}"); done
    servers=("${reversed[@]}")
fi
{
echo "| server | workload | MiB/s | req/s | p50 ms | p99 ms | server CPU µs/req |"
echo "|---|---|---|---|---|---|---|"
for workload in "${workloads[@]}"; do
    for s in "${servers[@]}"; do
        read -r name host ak sk pid <<<"$s"
        # SERVERS="tessera garage" limits a run to those servers.
        if [ -n "${SERVERS:-}" ] && [[ " $SERVERS " != *" $name "* ]]; then
            continue
        fi
        if [ "$name" = s3s-fs ] && [[ "$workload" == *1000000* ]]; then
            # s3s-fs lists by walking its directory tree: 10,000 keys already take 1.7 s a listing.
            echo "| $name | $workload | skipped: a listing of 1,000,000 files does not finish in the run |  |  |  |  |"
            continue
        fi
        run "$name" "$host" "$ak" "$sk" "$pid" -- $workload
    done
done
} | tee "$out"
