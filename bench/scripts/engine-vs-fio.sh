#!/usr/bin/env bash
# Engine throughput next to raw-disk fio figures, in one run on the same filesystem, and the
# ratios the storage-engine issue asks for. Usage: bench/scripts/engine-vs-fio.sh [DIR]
# (DIR on the disk under test; default /tmp/tessera-fio). Needs fio.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/tessera-fio}
secs=${BENCH_SECS:-5}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
fio_bw() { # name rw bs iodepth [extra fio args] -> MiB/s and IOPS
    fio --name="$1" --directory="$dir" --rw="$2" --bs="$3" --iodepth="$4" --ioengine=io_uring \
        --direct=1 --size=1G --runtime="$secs" --time_based --group_reporting --output-format=json \
        "${@:5}" \
        >"$dir/$1.json"
    python3 - "$dir/$1.json" "$2" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
side = "read" if "read" in sys.argv[2] else "write"
print(f'{job[side]["bw"] / 1024:.0f} {job[side]["iops"]:.0f}')
PY
}
read -r seqw_mib _ < <(fio_bw seqwrite write 1M 8)
read -r seqr_mib _ < <(fio_bw seqread read 1M 8)
read -r _ randw_iops < <(fio_bw randwrite randwrite 4k 32)
# For scale, not a target: the same random writes made durable the way a group commit of 16
# is (one fdatasync per 16 writes).
read -r _ randw_sync_iops < <(fio_bw randwrite-fdatasync randwrite 4k 32 --fdatasync=16)
rm -f "$dir"/*.0.0
out=$(BENCH_SECS=$secs cargo bench -q -p tessera --bench engine -- "$dir/engine" 2>/dev/null)
echo "$out"
echo "fio seq write 1MiB QD8: $seqw_mib MiB/s; seq read 1MiB QD8: $seqr_mib MiB/s; randwrite 4KiB QD32: $randw_iops IOPS; randwrite 4KiB QD32 with fdatasync every 16: $randw_sync_iops IOPS"
python3 - "$seqw_mib" "$seqr_mib" "$randw_iops" "$randw_sync_iops" "$out" <<'PY'
import re, sys
seqw, seqr, iops, sync_iops = map(float, sys.argv[1:5])
out = sys.argv[5]
put = float(re.search(r"engine put 1MiB.*?: (\d+) MiB/s", out).group(1))
get = float(re.search(r"engine get 1MiB.*?: (\d+) MiB/s", out).group(1))
small = float(re.search(r"engine put 4KiB.*?: (\d+) ops/s", out).group(1))
enc = float(re.search(r"ec encode.*?: ([\d.]+) GB/s", out).group(1))
print(f"ratio put 1MiB / (fio seq write x 4/6): {put / (seqw * 4 / 6):.2f}  (target >= 0.7)")
print(f"ratio get 1MiB / fio seq read:          {get / seqr:.2f}  (target >= 0.7)")
print(f"ratio put 4KiB / fio randwrite IOPS:    {small / iops:.2f}  (target >= 0.5)")
print(f"ratio put 4KiB / fio randwrite, fdatasync every 16: {small / sync_iops:.2f}  (for scale)")
print(f"ec encode: {enc:.2f} GB/s per core        (target >= 3)")
PY
