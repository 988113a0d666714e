#!/usr/bin/env bash
# Throughput of one node against a 3-node cluster (README → Cluster, docs/performance.md):
# the same loadgen run against a single node, against node 1 of a cluster (nats-server + 3
# nodes), and split over the 3 nodes; prints loadgen's lines and each process's CPU.
# Run from the repository root after `cargo build --release`; needs nats-server and curl.
#   CALLS=2000 CONNS=20 DUR=20 RAMP=10 bash benches/cluster_throughput.sh
# Uses loopback ports 14222 and 18090-18093.
set -u
B=${CALMA:-target/release/calma}
OUT=${OUT:-$(mktemp -d)}; mkdir -p $OUT
CALLS=${CALLS:-2000}; CONNS=${CONNS:-20}; DUR=${DUR:-20}; RAMP=${RAMP:-10}
cpu() { awk '{print $14+$15}' /proc/$1/stat; }   # utime+stime, clock ticks
serve() { # port extra...
  local port=$1; shift
  $B serve --addr 127.0.0.1:$port --db $OUT/n$port.sqlite3 --max-segment-rate 0 "$@" > $OUT/n$port.log 2>&1 &
  echo $!
}
wait_up() { for i in $(seq 50); do curl -sf http://127.0.0.1:$1/healthz >/dev/null && return; sleep 0.2; done; echo "node $1 not up"; }
ulimit -n 20000

echo "== single node"
p=$(serve 18090); wait_up 18090
$B loadgen --url http://127.0.0.1:18090 --calls $CALLS --connections $CONNS --duration $DUR --ramp $RAMP --server-pid $p --json $OUT/single.json > $OUT/single.txt 2>&1
kill $p; wait $p 2>/dev/null
tail -25 $OUT/single.txt

echo "== cluster, loadgen against node 1"
nats-server -a 127.0.0.1 -p 14222 -js -sd $OUT/nats > $OUT/nats.log 2>&1 & NP=$!
sleep 1
p1=$(serve 18091 --cluster nats://127.0.0.1:14222); p2=$(serve 18092 --cluster nats://127.0.0.1:14222); p3=$(serve 18093 --cluster nats://127.0.0.1:14222)
wait_up 18091; wait_up 18092; wait_up 18093
c0="$(cpu $p1) $(cpu $p2) $(cpu $p3) $(cpu $NP)"; t0=$(date +%s.%N)
$B loadgen --url http://127.0.0.1:18091 --calls $CALLS --connections $CONNS --duration $DUR --ramp $RAMP --server-pid $p1 --json $OUT/cluster1.json > $OUT/cluster1.txt 2>&1
c1="$(cpu $p1) $(cpu $p2) $(cpu $p3) $(cpu $NP)"; t1=$(date +%s.%N)
tail -25 $OUT/cluster1.txt
python3 - "$c0" "$c1" "$t0" "$t1" <<'PY'
import sys
a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); dt=float(sys.argv[4])-float(sys.argv[3])
for name,x,y in zip(["node1","node2","node3","nats"],a,b): print(f"{name}: {100*(y-x)/100/dt:.1f} % of a core over the whole run (ramp included)")
PY

echo "== cluster, spread over the 3 nodes"
c0="$(cpu $p1) $(cpu $p2) $(cpu $p3) $(cpu $NP)"; t0=$(date +%s.%N)
lp=()
for port in 18091 18092 18093; do
  $B loadgen --url http://127.0.0.1:$port --calls $((CALLS/3)) --connections $((CONNS/3+1)) --duration $DUR --ramp $RAMP --json $OUT/spread$port.json > $OUT/spread$port.txt 2>&1 &
  lp+=($!)
done
wait "${lp[@]}"
c1="$(cpu $p1) $(cpu $p2) $(cpu $p3) $(cpu $NP)"; t1=$(date +%s.%N)
for port in 18091 18092 18093; do echo "-- node $port"; tail -25 $OUT/spread$port.txt; done
python3 - "$c0" "$c1" "$t0" "$t1" <<'PY'
import sys
a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); dt=float(sys.argv[4])-float(sys.argv[3])
for name,x,y in zip(["node1","node2","node3","nats"],a,b): print(f"{name}: {100*(y-x)/100/dt:.1f} % of a core over the whole run (ramp included)")
PY
kill $p1 $p2 $p3 $NP; wait 2>/dev/null
