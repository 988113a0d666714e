#!/usr/bin/env bash
# The scale rows of docs/performance.md (issue 17), one run each, exactly as measured:
#   1. 10,000 calls on 100 connections, against the echo baseline;
#   2. 10,000 calls on 10,000 connections (one call per connection), against echo;
#   3. the same plus one agent panel socket per call (`--agents`);
#   4. what one connection costs: RSS of a server holding 10,000 connections, each with one open
#      call and no traffic, minus the RSS of the same server idle.
#
# Run it on a quiet machine (`uptime` is printed before every run: the figures mean little when
# other jobs keep the load average above the core count). Results (text, JSON, slow-final
# timelines) go to $OUT (default target/scale). Everything talks to 127.0.0.1 only.
#
#   cargo build --release && bash benches/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${CALMA_BIN:-target/release/calma}")
OUT=$(realpath -m "${OUT:-target/scale}")
mkdir -p "$OUT"
cd "$OUT" # spawned servers keep their history database here

# Each connection is a socket in the loadgen and one in the server.
ulimit -n "$(ulimit -Hn)"
FDS=$(ulimit -n)
# Panels double the sockets: 10,000 calls with 10,000 panels need ~20,100 descriptors per process.
PANEL_CALLS=10000
if [ "$FDS" != unlimited ] && [ "$FDS" -lt 20100 ]; then
    PANEL_CALLS=$(((FDS - 200) / 2 / 100 * 100))
    echo "open-file limit $FDS: the panel run uses $PANEL_CALLS calls and $PANEL_CALLS panels"
fi

run() {
    local name=$1
    shift
    echo "== $name: $(uptime)"
    "$BIN" loadgen --spawn "$@" --timeline "$OUT/$name.csv" --json "$OUT/$name.json" \
        | tee "$OUT/$name.txt" || true
}

run calls10k --calls 10000 --connections 100 --echo --ramp 10 --duration 30
run conns10k --calls 10000 --connections 10000 --echo --ramp 15 --duration 30
run panels10k --calls "$PANEL_CALLS" --connections "$PANEL_CALLS" --agents --echo \
    --ramp 15 --duration 30

# 4. Memory per connection: a server of its own, 10,000 connections opened over 10 s, each
# starting one call; --speed 0.001 sends nothing after the `call.start`.
echo "== per-connection memory: $(uptime)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --addr "127.0.0.1:$PORT" --max-calls 2 --max-process-calls 10000 \
    --max-calls-per-tenant 10000 --max-connections-per-tenant 20000 --max-connections 20016 \
    >"$OUT/memory-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 2
RSS0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
"$BIN" loadgen --url "http://127.0.0.1:$PORT" --server-pid "$SERVER" --calls 10000 \
    --connections 10000 --ramp 10 --duration 10 --speed 0.001 --json "$OUT/memory.json" \
    | tee "$OUT/memory.txt" || true
python3 - "$RSS0" "$OUT/memory.json" <<'EOF'
import json, sys
rss0_kib = int(sys.argv[1])
r = json.load(open(sys.argv[2]))[0]
per = (r["server_rss_mib"] * 1024 - rss0_kib) / r["connections"]
print(f"idle server {rss0_kib / 1024:.1f} MiB; with {r['connections']} connections "
      f"(one open call each) {r['server_rss_mib']:.1f} MiB: {per:.1f} KiB per connection; "
      f"server CPU {r['server_cpu_percent']:.1f} % of a core with no traffic")
EOF
