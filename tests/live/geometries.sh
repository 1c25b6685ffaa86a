#!/usr/bin/env bash
# Every object size class through a real node for several device counts, hence several
# default geometries (1 → 1+0, 3 → 2+1, 8 → 6+2, 12 → 8+4): PUT, GET, ranged GET byte-exact.
# Wide geometries read more pieces per stripe than a narrow one; this catches any path sized
# for 4+2 only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../compat/lib.sh"
work="$(mktemp -d /tmp/tessera-geometries.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
[ -x "$TESSERA_BIN" ] || (cd "$TESSERA_ROOT" && cargo build -q -p tessera)
for n in 1 3 8 12; do
    devices=()
    for i in $(seq 0 $((n - 1))); do mkdir -p "$work/$n/d$i"; devices+=(--device "$work/$n/d$i"); done
    port=$(free_port); admin=$(free_port)
    "$TESSERA_BIN" serve --data-dir "$work/$n/data" "${devices[@]}" --listen "127.0.0.1:$port" \
        --admin-listen "127.0.0.1:$admin" --access-key "$AK" --secret-key "$SK" --cores 2 >"$work/$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 150); do curl -fsS -o /dev/null "http://127.0.0.1:$admin/health" 2>/dev/null && break; sleep 0.2; done
    timeout 120 python3 "$here/geometries.py" "http://127.0.0.1:$port" "$AK" "$SK" "$(grep -o 'ec=[0-9+]*' "$work/$n.log")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
echo "geometries: all sizes byte-exact with 1, 3, 8 and 12 devices"
