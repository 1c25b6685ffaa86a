#!/usr/bin/env bash
# Lost devices on a live node: with EC 4+2 over 6 emulated devices, delete two device
# directories between restarts — every object still reads back byte-exact (degraded reads,
# counted in /metrics) and the log says the node is degraded; delete a third and the node
# refuses to start with a clear message instead of serving errors.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../compat/lib.sh"
tessera_start
python3 "$here/devices.py" put "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json"
tessera_stop_process
rm -rf "$TESSERA_DATA_DIR/devices/d1" "$TESSERA_DATA_DIR/devices/d4"
log "removed devices d1 and d4"
tessera_launch
grep -q "DEVICE DOWN" "$TESSERA_LOG" || { echo "FAIL: the log does not say the node is degraded"; exit 1; }
python3 "$here/devices.py" check "$TESSERA_ENDPOINT" "$AK" "$SK" "$TESSERA_WORK/manifest.json" \
    "http://127.0.0.1:$TESSERA_ADMIN_PORT"
tessera_stop_process
rm -rf "$TESSERA_DATA_DIR/devices/d2"
log "removed device d2 as well: 3 of 6 down with m = 2"
if timeout 30 "$TESSERA_BIN" serve --data-dir "$TESSERA_DATA_DIR" --listen "127.0.0.1:$(free_port)" \
    --admin-listen "127.0.0.1:$(free_port)" --credentials "$TESSERA_WORK/credentials" \
    >"$TESSERA_WORK/refused.log" 2>&1; then
    echo "FAIL: the node started with more than m devices down"
    exit 1
fi
grep -q "refusing to start" "$TESSERA_WORK/refused.log" || { echo "FAIL: no clear refusal"; cat "$TESSERA_WORK/refused.log"; exit 1; }
echo "devices: degraded start and byte-exact reads with m devices lost; refusal with m+1"
