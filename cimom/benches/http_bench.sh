#!/usr/bin/env bash
# http_bench.sh -- CIM-XML over HTTP throughput and latency of cimomd, measured
# with wrk and the shared wrk_cimxml.lua script, side by side with any other
# CIM server found on this machine (SFCB's sfcbd, OpenPegasus' cimserver).
#
# Operations: GetClass, EnumerateClassNames (deep, whole namespace),
# EnumerateInstances and EnumerateInstanceNames of Bench_Item, a class with
# BENCH_INSTANCES (default 1000) static instances of ~1 KB of CIM-XML each (~1 MB
# per EnumerateInstances response), loaded with `cimomd load-mof`.
# Also reports the server's resident memory idle and after the runs.
#
# Usage: cimom/benches/http_bench.sh            (from anywhere in the checkout)
# Env:   DURATION=10s CONNECTIONS=16 THREADS=2 BENCH_INSTANCES=1000 PORT=15988
#        (PORT defaults to a free ephemeral port)
#        WRK_LUA=path/to/wrk_cimxml.lua   CIMOMD=path/to/cimomd (skip the build)
# Goals (issue #4): GetClass >= 11000 req/s with p50 <= 1.2 ms; EnumerateInstances
# (1000 instances, 1 MB) >= 300 req/s; RSS <= 12 MB idle, <= 56 MB after the runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
BENCH_INSTANCES=${BENCH_INSTANCES:-1000}
# A free loopback port unless PORT is given (another cimomd may hold 5988/15988).
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
LUA=${WRK_LUA:-}
for c in "$LUA" "$ROOT/../shared/tools/wrk_cimxml.lua"; do
  if [ -n "$c" ] && [ -f "$c" ]; then LUA=$c; break; fi
done
if ! command -v wrk >/dev/null; then
  echo "http_bench: wrk is not installed (apt-get install -y wrk); skipped"; exit 0
fi
if [ -z "$LUA" ] || [ ! -f "$LUA" ]; then
  echo "http_bench: wrk_cimxml.lua not found (set WRK_LUA); skipped"; exit 0
fi

if [ -z "${CIMOMD:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p providers --bin cimomd)
  CIMOMD=$ROOT/target/release/cimomd
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/http_bench.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# GetClass target: the bundled schema has no CIM_ComputerSystem, so the bench
# MOF declares one shaped like DMTF's (CIM_System + CIM_ComputerSystem
# properties, Description qualifiers, one method) so that responses have a
# realistic size and the class name matches what other servers are asked.
{
  echo 'class CIM_ComputerSystem : CIM_EnabledLogicalElement {'
  for p in CreationClassName Name; do
    echo "  [Key, MaxLen(256), Description(\"$p: key of the system; together with the other key it identifies the instance within the namespace. $(printf 'Lorem ipsum dolor sit amet. %.0s' 1 2 3)\")] string $p;"
  done
  for p in NameFormat PrimaryOwnerName PrimaryOwnerContact PrimaryOwnerPager SecondaryOwnerName SecondaryOwnerContact; do
    echo "  [Description(\"$p of the computer system. $(printf 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. %.0s' 1 2 3 4)\"), MaxLen(256)] string $p;"
  done
  for p in Roles OtherIdentifyingInfo IdentifyingDescriptions OtherDedicatedDescriptions; do
    echo "  [Description(\"$p: an array property. $(printf 'Sed do eiusmod tempor incididunt ut labore. %.0s' 1 2 3 4)\")] string $p[];"
  done
  echo '  [Description("Dedicated roles."), ValueMap{"0","1","2","3","4","5","6","7","8","9","10"}, Values{"Not Dedicated","Unknown","Other","Storage","Router","Switch","Layer 3 Switch","Central Office Switch","Hub","Access Server","Firewall"}] uint16 Dedicated[];'
  echo '  [Description("Reset capability."), ValueMap{"1","2","3","4","5"}, Values{"Other","Unknown","Disabled","Enabled","Not Implemented"}] uint16 ResetCapability;'
  echo '  [Description("Power management capabilities."), ValueMap{"0","1","2","3","4","5","6","7"}, Values{"Unknown","Not Supported","Disabled","Enabled","Power Saving Modes Entered Automatically","Power State Settable","Power Cycling Supported","Timed Power On Supported"}] uint16 PowerManagementCapabilities[];'
  echo '  [Description("Sets the power state.")] uint32 SetPowerState([IN, Description("The new state.")] uint32 PowerState, [IN, Description("When.")] datetime Time);'
  echo '};'
} > "$TMP/cs.mof"
if ! "$CIMOMD" load-mof --state-dir "$TMP/state" --namespace root/cimv2 "$TMP/cs.mof" >/dev/null 2>"$TMP/cs.err"; then
  echo "http_bench: note: CIM_ComputerSystem not loaded ($(head -c 300 "$TMP/cs.err")); GetClass uses Bench_Item"
fi

# ~1 KB of CIM-XML per instance (~1 MB per EnumerateInstances response):
# a key, four 60-character strings and four numbers/flags/dates.
{
  echo 'class Bench_Item {'
  echo '  [Key] string Id;'
  for p in A B C D; do echo "  string Text$p;"; done
  echo '  uint64 Size; uint32 Count; boolean Flag; datetime Stamp;'
  echo '};'
  filler=$(printf 'x%.0s' $(seq 1 60))
  for i in $(seq 1 "$BENCH_INSTANCES"); do
    printf 'instance of Bench_Item { Id = "item-%05d";' "$i"
    for p in A B C D; do printf ' Text%s = "%s";' "$p" "$filler"; done
    printf ' Size = %d; Count = %d; Flag = true; Stamp = "20261122030000.000000+000"; };\n' $((i * 4096)) "$i"
  done
} > "$TMP/bench.mof"
"$CIMOMD" load-mof --state-dir "$TMP/state" --namespace root/cimv2 "$TMP/bench.mof" >/dev/null

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# One wrk run: prints "req/s p50_ms p99_ms bytes_per_response errors".
run_wrk() { # url op class
  local out rps p50 p99 bpr errs
  out=$(CIM_OP=$2 CIM_NS=root/cimv2 CIM_CLASS=$3 CIM_CHECK=${CIM_CHECK:-} \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$1" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(grep -o 'latency_p50_ms [0-9.]*' <<<"$out" | awk '{print $2}')
  p99=$(grep -o 'latency_p99_ms [0-9.]*' <<<"$out" | awk '{print $2}')
  bpr=$(grep -o 'bytes/resp [0-9.]*' <<<"$out" | awk '{print $2}')
  errs=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {print "sock"}' <<<"$out" | tr '\n' ' ')
  echo "${rps:-0} ${p50:-0} ${p99:-0} ${bpr:-0} ${errs:-0}"
}

# Pick the GetClass target: CIM_ComputerSystem when the schema has it.
gc_class() {
  local body='<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="GetClass"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="CIM_ComputerSystem"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>'
  if curl -s -X POST -H 'CIMOperation: MethodCall' -H 'CIMMethod: GetClass' -H 'CIMObject: root/cimv2' \
       -H 'Content-Type: application/xml' --data "$body" "$1" 2>/dev/null | grep -q '<CLASS '; then
    echo CIM_ComputerSystem
  else
    echo Bench_Item
  fi
}

"$CIMOMD" --state-dir "$TMP/state" --listen "127.0.0.1:$PORT" --nbd-listen off --log warn \
  >"$TMP/cimomd.log" 2>&1 &
PID=$!
if ! wait_port "$PORT" || ! kill -0 "$PID" 2>/dev/null; then
  echo "cimomd did not start:"; cat "$TMP/cimomd.log"; exit 1
fi
sleep 1
URL=http://127.0.0.1:$PORT/cimom
GC=$(gc_class "$URL")
idle=$(rss_kb "$PID")
echo "GetClass target: $GC"
printf '%-26s %12s %9s %9s %11s  %s\n' "cimomd ($CONNECTIONS conns, $DURATION)" "req/s" "p50 ms" "p99 ms" "bytes/resp" "non-2xx"
declare -A RPS P50
for spec in "GetClass $GC" "EnumerateClassNames -" "EnumerateInstances Bench_Item" "EnumerateInstanceNames Bench_Item"; do
  set -- $spec
  read -r rps p50 p99 bpr errs < <(run_wrk "$URL" "$1" "$2")
  RPS[$1]=$rps; P50[$1]=$p50
  printf '%-26s %12s %9s %9s %11s  %s\n' "$1" "$rps" "$p50" "$p99" "$bpr" "$errs"
done
after=$(rss_kb "$PID")
printf 'RSS: idle %d KiB (%.1f MiB), after the runs %d KiB (%.1f MiB)\n' "$idle" "$(echo "$idle/1024" | bc -l)" "$after" "$(echo "$after/1024" | bc -l)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "against the goals (ratio > 1 is better than the goal):"
echo "  GetClass req/s / 11000          = $(ratio "${RPS[GetClass]}" 11000)"
echo "  1.2 ms / GetClass p50           = $(ratio 1.2 "${P50[GetClass]}")"
echo "  EnumerateInstances req/s / 300  = $(ratio "${RPS[EnumerateInstances]}" 300)"
echo "  12 MiB / idle RSS               = $(ratio 12288 "$idle")"
echo "  56 MiB / RSS after the runs     = $(ratio 57344 "$after")"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

# Side by side: another CIM server on this machine, if any (same wrk script).
# It is not started here (its set-up differs per product); run it yourself
# and give its URL as OTHER_URL (e.g. http://127.0.0.1:5988/cimom).
other=""
for b in sfcbd cimserver owcimomd; do command -v "$b" >/dev/null && other=$b && break; done
if [ -z "${OTHER_URL:-}" ]; then
  echo
  if [ -z "$other" ]; then
    echo "no other CIM server (sfcbd, cimserver, owcimomd) is installed on this machine: nothing to compare with"
  else
    echo "$other is installed: start it and rerun with OTHER_URL=http://127.0.0.1:PORT/cimom for a side-by-side run"
  fi
  exit 0
fi
echo
echo "side by side with ${other:-the server at} $OTHER_URL (GetClass CIM_ComputerSystem, root/cimv2):"
for op in GetClass EnumerateClassNames; do
  read -r rps p50 p99 bpr errs < <(run_wrk "$OTHER_URL" "$op" CIM_ComputerSystem)
  printf '  %-24s %s req/s p50 %s ms  -> cimomd/other = %s\n' "$op" "$rps" "$p50" "$(ratio "${RPS[$op]}" "$rps")"
done
