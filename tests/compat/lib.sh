# Shared helpers for the live-node scripts in tests/compat and tests/s3tests: start a node on
# free loopback ports with a fresh data dir under /tmp, wait until it serves, and stop it (by
# its PID, from an EXIT trap) however the script ends. Source it; do not run it.
#
# After `tessera_start`, these are set:
#   TESSERA_ENDPOINT   http://127.0.0.1:PORT
#   TESSERA_PORT, TESSERA_ADMIN_PORT, TESSERA_DATA_DIR, TESSERA_PID, TESSERA_LOG
#   AK/SK (main user), ALT_AK/ALT_SK, TENANT_AK/TENANT_SK (more users from --credentials)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # tests/run-all.sh runs every tests/compat/*.sh; this one only defines helpers.
    echo "lib.sh: helpers for the compat scripts, nothing to run on its own"
    exit 0
fi

TESSERA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TESSERA_BIN="${TESSERA_BIN:-$TESSERA_ROOT/target/debug/tessera}"
# Seconds to wait for /health, and for the node to exit after SIGTERM.
TESSERA_START_TIMEOUT_S=60
TESSERA_STOP_TIMEOUT_S=20

AK=tesseramainaccess01
SK=tesseramainsecret0000000000000000000001
ALT_AK=tesseraaltaccess0002
ALT_SK=tesseraaltsecret00000000000000000000002
TENANT_AK=tesseratenantacc0003
TENANT_SK=tesseratenantsecret00000000000000000003

TESSERA_PID=""
TESSERA_WORK=""

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# A TCP port nobody listens on right now (the kernel picks it; the race with another process
# taking it before the node binds is accepted: the start then fails loudly).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Stops the node process (SIGTERM, then SIGKILL after the timeout); keeps its data.
tessera_stop_process() {
    local pid="$TESSERA_PID"
    TESSERA_PID=""
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + TESSERA_STOP_TIMEOUT_S))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "node $pid did not stop after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    fi
}

# Stops the node and removes its work dir (unless TESSERA_KEEP is set).
tessera_stop() {
    tessera_stop_process
    if [ -n "$TESSERA_WORK" ] && [ -d "$TESSERA_WORK" ] && [ -z "${TESSERA_KEEP:-}" ]; then
        rm -rf "$TESSERA_WORK"
    fi
    TESSERA_WORK=""
}

# Runs at exit: stop the node, then any cleanup the script registered in TESSERA_CLEANUP.
tessera_on_exit() {
    local rc=$?
    if [ -n "${TESSERA_CLEANUP:-}" ]; then
        eval "$TESSERA_CLEANUP" || true
    fi
    tessera_stop
    exit "$rc"
}

tessera_start() {
    if [ ! -x "$TESSERA_BIN" ]; then
        (cd "$TESSERA_ROOT" && cargo build -q -p tessera)
    fi
    TESSERA_WORK="$(mktemp -d /tmp/tessera-test.XXXXXX)"
    TESSERA_DATA_DIR="$TESSERA_WORK/data"
    TESSERA_LOG="$TESSERA_WORK/node.log"
    mkdir -p "$TESSERA_DATA_DIR"
    printf '%s:%s\n%s:%s\n%s:%s\n' "$AK" "$SK" "$ALT_AK" "$ALT_SK" "$TENANT_AK" "$TENANT_SK" \
        >"$TESSERA_WORK/credentials"
    chmod 600 "$TESSERA_WORK/credentials"
    trap tessera_on_exit EXIT
    trap 'exit 130' INT TERM
    tessera_launch
}

# Stops the node and starts it again on the same data dir (new ports).
tessera_restart() {
    tessera_stop_process
    tessera_launch
}

# Starts the binary on the current TESSERA_WORK and waits until it is healthy. Extra `serve`
# flags (e.g. `--device` paths, without spaces) come from TESSERA_SERVE_ARGS.
tessera_launch() {
    TESSERA_PORT="$(free_port)"
    TESSERA_ADMIN_PORT="$(free_port)"
    while [ "$TESSERA_ADMIN_PORT" = "$TESSERA_PORT" ]; do TESSERA_ADMIN_PORT="$(free_port)"; done
    TESSERA_ENDPOINT="http://127.0.0.1:$TESSERA_PORT"
    "$TESSERA_BIN" serve --data-dir "$TESSERA_DATA_DIR" \
        --listen "127.0.0.1:$TESSERA_PORT" --admin-listen "127.0.0.1:$TESSERA_ADMIN_PORT" \
        --credentials "$TESSERA_WORK/credentials" --cores 2 ${TESSERA_SERVE_ARGS:-} >"$TESSERA_LOG" 2>&1 &
    TESSERA_PID=$!
    local deadline=$((SECONDS + TESSERA_START_TIMEOUT_S))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$TESSERA_ADMIN_PORT/health" 2>/dev/null; do
        if ! kill -0 "$TESSERA_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            log "node did not become healthy; its log:"
            cat "$TESSERA_LOG" >&2 || true
            return 1
        fi
        sleep 0.2
    done
    export TESSERA_ENDPOINT TESSERA_PORT TESSERA_ADMIN_PORT TESSERA_DATA_DIR TESSERA_LOG
    export AK SK ALT_AK ALT_SK TENANT_AK TENANT_SK
    log "node $TESSERA_PID serving on $TESSERA_ENDPOINT (data $TESSERA_DATA_DIR)"
}

# Bounded checks with a clear PASS/FAIL line each; FAILURES counts the failed ones.
FAILURES=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $*"; }

# check NAME CMD...: runs CMD, PASS if it exits 0, FAIL (with its output) otherwise.
check() {
    local name="$1"
    shift
    local out started elapsed
    started="$(date +%s%N)"
    if out="$("$@" 2>&1)"; then
        elapsed="$((($(date +%s%N) - started) / 1000000))"
        pass "$name (${elapsed} ms)"
    else
        elapsed="$((($(date +%s%N) - started) / 1000000))"
        fail "$name (${elapsed} ms)"
        printf '%s\n' "$out" | tail -20 | sed 's/^/    /'
    fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_file A B: the two files have the same SHA-256.
same_file() {
    local a b
    a="$(sha "$1")"
    b="$(sha "$2")"
    if [ "$a" != "$b" ]; then
        echo "hash mismatch: $1 ($a) vs $2 ($b)"
        return 1
    fi
}

# Prints the closing line and exits non-zero if anything failed.
finish() {
    local name="$1"
    echo "$name: $PASSES passed, $FAILURES failed"
    [ "$FAILURES" -eq 0 ]
}
