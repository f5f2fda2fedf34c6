#!/usr/bin/env bash
# Regenerates the figures of BENCHMARKS.md: builds release, runs the
# criterion benchmarks and the loadtest scenarios (real TCP against a
# separate server process, and in-process), and prints the tables.
#
#   bench/run.sh                    # everything (~35 min on 2 cores)
#   SKIP_BENCH=1 bench/run.sh       # scenarios only
#   TCP_PILES=5000 INPROC_PILES=20000 DAY_SECS=60 bench/run.sh   # smaller
#
# Only 127.0.0.1 is used. One server process holds at most ~19,000 TCP piles
# under a 20,000 open-file limit; the load generator runs as its own process.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-load}
TCP_PILES=${TCP_PILES:-19000}
INPROC_PILES=${INPROC_PILES:-100000}
DAY_PILES=${DAY_PILES:-3000}
DAY_RATE=${DAY_RATE:-116}
DAY_SECS=${DAY_SECS:-600}
PILE_PORT=${PILE_PORT:-18767}
HTTP_PORT=${HTTP_PORT:-18080}
OUT=${OUT:-$CARGO_TARGET_DIR/bench-run}
mkdir -p "$OUT"
BIN=$CARGO_TARGET_DIR/release

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -h | awk '/Mem:/{print $2}') RAM, ulimit -n $(ulimit -n)"

cargo build --release -p api -p loadtest

if [[ -z "${SKIP_BENCH:-}" ]]; then
    cargo bench -p bench --bench ykc --bench dny --bench store --bench actor_path 2>&1 | tee "$OUT/bench.txt" |
        grep -E '^[a-z_]+/|thrpt:' || true
fi

summary() { sed -n '/^| measure | value |/,$p' "$1"; }

# --- real TCP: a server process and the generator as another process ---
SERVER_PID=
start_server() {
    local data=$OUT/server-data
    rm -rf "$data" && mkdir -p "$data"
    CHARGEPLANE_ADMIN_PASSWORD=loadtest-password "$BIN/chargeplane" create-admin --data-dir "$data" \
        --username lt >/dev/null
    "$BIN/chargeplane" serve --data-dir "$data" --pile-listen "127.0.0.1:$PILE_PORT" \
        --http-listen "127.0.0.1:$HTTP_PORT" --auto-register-station 1 >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null; then
            CHARGEPLANE_TOKEN=$(curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/auth/login" \
                -H 'content-type: application/json' -d '{"username": "lt", "password": "loadtest-password"}' |
                jq -r .token)
            export CHARGEPLANE_TOKEN
            return 0
        fi
        sleep 0.1
    done
    echo "server did not come up" >&2
    return 1
}
stop_server() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
trap stop_server EXIT

TCP=(--piles-addr "127.0.0.1:$PILE_PORT" --http "http://127.0.0.1:$HTTP_PORT")

run() { # name, loadtest args...
    local name=$1
    shift
    echo "=== $name: loadtest $*"
    timeout 1200 "$BIN/loadtest" "$@" >"$OUT/$name.txt" 2>&1 || echo "($name: target missed or failed, see $OUT/$name.txt)"
    summary "$OUT/$name.txt"
}

start_server
run tcp-idle-fleet --scenario idle-fleet --protocol dny --piles "$TCP_PILES" "${TCP[@]}" --server-pid "$SERVER_PID" --settle 15
run tcp-start-latency --scenario start-latency --protocol dny --piles "$TCP_PILES" "${TCP[@]}" --server-pid "$SERVER_PID" --starts 2000 --charge-rate 50
run tcp-reconnect-storm --scenario reconnect-storm --protocol dny --piles "$TCP_PILES" "${TCP[@]}" --server-pid "$SERVER_PID" --storm-charges 2000
stop_server
# A fresh server, so its RSS over the day is the day's alone.
start_server
run tcp-charging-day --scenario charging-day --protocol dny --piles "$DAY_PILES" "${TCP[@]}" --server-pid "$SERVER_PID" \
    --charge-rate "$DAY_RATE" --duration "$DAY_SECS" --time-scale 240 --tick 60 --drain 120
stop_server

# --- in-process: 100k piles / 1M port actors over in-memory streams ---
run inproc-idle-fleet --scenario idle-fleet --protocol dny --in-process --piles "$INPROC_PILES" --settle 15
run inproc-start-latency --scenario start-latency --protocol dny --in-process --piles "$INPROC_PILES" --starts 2000 --charge-rate 50
run inproc-reconnect-storm --scenario reconnect-storm --protocol dny --in-process --piles "$INPROC_PILES" --storm-charges 2000

if [[ -f "$OUT/bench.txt" ]]; then
    echo "=== samples persisted: chargeplane store vs plain rusqlite batched INSERT"
    python3 - "$CARGO_TARGET_DIR/criterion/samples_persisted" <<'PY'
import json, sys, os
d = sys.argv[1]
t = {n: json.load(open(os.path.join(d, n, "new", "estimates.json")))["mean"]["point_estimate"]
     for n in ("chargeplane_store", "plain_rusqlite_batched_insert")}
rate = {n: 1000 / (ns / 1e9) for n, ns in t.items()}
print(f"store {rate['chargeplane_store']:.0f}/s, plain {rate['plain_rusqlite_batched_insert']:.0f}/s, "
      f"ratio {rate['chargeplane_store'] / rate['plain_rusqlite_batched_insert']:.2f} (target >= 0.5)")
PY
fi
echo "logs in $OUT"
