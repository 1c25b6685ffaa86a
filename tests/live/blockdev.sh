#!/usr/bin/env bash
# Raw block devices on a live node: 3 loop devices (4096-byte sectors, over sparse files on
# disk) interleaved with 3 directories, EC 4+2. The fresh node formats the blank devices;
# boto3 PUTs and GETs every object layout byte-exact; after SIGKILL and a restart everything
# reads back; after one loop device is zeroed whole (replaced by a new disk) the restarted
# node says so, labels it, serves every object byte-exact (degraded), and its scrubber
# rebuilds the device's shards from parity. Then the kill -9 crash test (tests/crash/crash.py)
# runs on blank loop devices and directories. Needs root and losetup: skipped with a reason otherwise. Every loop device
# attached here is detached on exit, however the script ends.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../compat/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v losetup >/dev/null; then
    echo "SKIPPED blockdev: needs root and losetup"
    exit 0
fi
blk_dir="$(mktemp -d /tmp/tessera-blk.XXXXXX)"
loops=()
detach_loops() {
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$blk_dir"
}
TESSERA_CLEANUP=detach_loops
trap detach_loops EXIT
for i in 0 1 2; do
    truncate -s 256M "$blk_dir/disk$i.img"
    loops+=("$(losetup --find --show --sector-size 4096 --direct-io=on "$blk_dir/disk$i.img")")
done
log "loop devices: ${loops[*]}"
args=""
for i in 0 1 2 3 4 5; do
    if [ $((i % 2)) = 0 ]; then
        args="$args --device ${loops[$((i / 2))]}"
    else
        mkdir -p "$blk_dir/dir$i"
        args="$args --device $blk_dir/dir$i"
    fi
done
export TESSERA_SERVE_ARGS="$args"
tessera_start # replaces our EXIT trap with one that stops the node, then runs TESSERA_CLEANUP
grep -q "formatted block device" "$TESSERA_LOG" || { echo "FAIL: blank devices were not formatted"; cat "$TESSERA_LOG"; exit 1; }
python3 "$here/blockdev.py" put "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
python3 "$here/blockdev.py" check "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
kill -KILL "$TESSERA_PID"
wait "$TESSERA_PID" 2>/dev/null || true
TESSERA_PID=""
log "killed the node with SIGKILL"
tessera_launch
if grep -q "formatted block device" "$TESSERA_LOG"; then echo "FAIL: a restart reformatted a device"; exit 1; fi
python3 "$here/blockdev.py" check "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
tessera_stop_process
dd if=/dev/zero of="${loops[1]}" bs=1M count=256 oflag=direct status=none
log "zeroed ${loops[1]} whole (device 2 replaced by a new disk)"
tessera_launch
grep -q "REPLACEMENT DEVICE" "$TESSERA_LOG" || { echo "FAIL: the log does not say device 2 is a replacement"; cat "$TESSERA_LOG"; exit 1; }
if [ "$(od -An -tx1 -N4 "${loops[1]}" | tr -d ' ')" = "00000000" ]; then
    echo "FAIL: the replacement device was not labelled"
    exit 1
fi
python3 "$here/blockdev.py" check "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
# The degraded reads above ask the scrubber for a pass (within about 10 s).
repaired=0
for _ in $(seq 60); do
    repaired=$(curl -sf "http://127.0.0.1:$TESSERA_ADMIN_PORT/metrics" | awk '/^tessera_repaired_shards_total/ {print $2}')
    [ "${repaired:-0}" != 0 ] && break
    sleep 1
done
[ "${repaired:-0}" != 0 ] || { echo "FAIL: no shard was rebuilt on the replacement device"; exit 1; }
log "scrubber rebuilt $repaired shards"
python3 "$here/blockdev.py" check "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
tessera_stop_process
# The kill -9 crash test on the same mix of devices: blank loop devices (a fresh node formats
# them) and new directories.
crash_args=()
for i in 0 1 2 3 4 5; do
    if [ $((i % 2)) = 0 ]; then
        dd if=/dev/zero of="${loops[$((i / 2))]}" bs=1M count=16 oflag=direct status=none
        crash_args+=(--device "${loops[$((i / 2))]}")
    else
        mkdir -p "$blk_dir/crash$i"
        crash_args+=(--device "$blk_dir/crash$i")
    fi
done
python3 "$here/../crash/crash.py" "$TESSERA_BIN" --cycles "${TESSERA_BLOCKDEV_CRASH_CYCLES:-6}" "${crash_args[@]}"
echo "blockdev: formatted, byte-exact over loop devices and directories, after SIGKILL, with a replaced (blank) device rebuilt by the scrubber, and through kill -9 cycles under load"
