#!/usr/bin/env bash
# http_bench.sh -- the object manager with what users load: the whole DMTF CIM
# 2.41 schema in root/cimv2 plus 1,000 PERF_Scratch instances (~1.8 MB per
# EnumerateInstances), measured with wrk and wrk_imethod.lua beside it, side by
# side with OpenPegasus when OPENPEGASUS_URL names a running one (start it with
# ../shared/tools/openpegasus/, see the README), in the same run.
#
# Figures (FIGURES below): GetClass CIM_ComputerSystem (LocalOnly=false),
# EnumerateClassNames (deep, whole namespace), EnumerateClasses (deep, without
# and with qualifiers), Associators, AssociatorNames, References and
# ReferenceNames of the class CIM_ComputerSystem, EnumerateInstances and
# EnumerateInstanceNames of PERF_Scratch: req/s, median of RUNS runs
# alternating between the servers;
# resident memory after the load, idle after a restart (cimomd) and after the
# runs; the repository's size on disk; `mofc check` of the schema (time, peak RSS).
# Without OPENPEGASUS_URL it prints absolute figures and says that no ratio was
# measured: it never compares against a constant.
#
# Usage: cimom/benches/http_bench.sh            (from anywhere in the checkout)
# Env:   DURATION=8s CONNECTIONS=16 THREADS=2 RUNS=3
#        OPENPEGASUS_URL=http://127.0.0.1:15990  (its PID is found from the port,
#        or give OPENPEGASUS_PID; OPENPEGASUS_REPOSITORY: its repository directory)
#        MOF_CORPUS (default ../shared/corpus)  SHARED_TOOLS (default ../shared/tools)
#        CIMOMD=path/to/cimomd MOFC=path/to/mofc (skip the build)
#        ONLY=regex  (run only the figures whose label matches)
# Goals (issue #14): idle RSS <= 12 MB, after the runs <= 40 MB; every class
# operation >= 3x OpenPegasus, EnumerateInstances >= 25x; repository
# <= 12 MB; mofc check <= 0.15 s and <= 24 MB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
CORPUS=${MOF_CORPUS:-$ROOT/../shared/corpus}
TOOLS=${SHARED_TOOLS:-$ROOT/../shared/tools}
SCHEMA=$CORPUS/cim-schema/2.41.0/CIM_Schema.mof
LUA=$ROOT/cimom/benches/wrk_imethod.lua
LOADER=$TOOLS/openpegasus/perf_scratch.py
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || PY=python3

if ! command -v wrk >/dev/null; then
  echo "http_bench: wrk is not installed (apt-get install -y wrk); skipped"; exit 0
fi
for f in "$SCHEMA" "$LUA" "$LOADER"; do
  [ -f "$f" ] || { echo "http_bench: $f not found (set MOF_CORPUS / SHARED_TOOLS)"; exit 1; }
done
if [ -z "${CIMOMD:-}" ] || [ -z "${MOFC:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p cimomd --bin cimomd -p mof --bin mofc)
fi
CIMOMD=${CIMOMD:-$ROOT/target/release/cimomd}
MOFC=${MOFC:-$ROOT/target/release/mofc}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/http_bench.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
start_cimomd() {
  "$CIMOMD" --state-dir "$TMP/state" --listen "127.0.0.1:$PORT" --nbd-listen off --log warn \
    >>"$TMP/cimomd.log" 2>&1 &
  PID=$!
  if ! wait_port "$PORT" || ! kill -0 "$PID" 2>/dev/null; then
    echo "cimomd did not start:"; cat "$TMP/cimomd.log"; exit 1
  fi
}
stop_cimomd() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# `mofc check` of the schema: wall time and peak RSS.
/usr/bin/time -f '%e %M' -o "$TMP/mofc.time" "$MOFC" check "$SCHEMA" >/dev/null 2>&1 || true
read -r mofc_s mofc_kb <"$TMP/mofc.time"

# The same data as in OpenPegasus: the schema, then PERF_Scratch over CIM-XML.
"$CIMOMD" load-mof --state-dir "$TMP/state" --namespace root/cimv2 "$SCHEMA" >/dev/null 2>"$TMP/load-mof.log"
PORT=${PORT:-$(free_port)}
start_cimomd
"$PY" "$LOADER" "http://127.0.0.1:$PORT" >"$TMP/load.log" 2>&1 || { cat "$TMP/load.log"; exit 1; }
loaded=$(rss_kb "$PID")
stop_cimomd
repo_kb=$(du -k "$TMP/state/repository.redb" | cut -f1)
start_cimomd
sleep 1
idle=$(rss_kb "$PID"); idle_anon=$(anon_kb "$PID")
URL=http://127.0.0.1:$PORT/cimom

OP_URL=${OPENPEGASUS_URL:+${OPENPEGASUS_URL%/}/cimom}
OP_PID=${OPENPEGASUS_PID:-}
if [ -n "$OP_URL" ] && [ -z "$OP_PID" ]; then
  op_port=${OPENPEGASUS_URL##*:}; op_port=${op_port%%/*}
  OP_PID=$(ss -ltnpH "sport = :$op_port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
fi
if [ -n "$OP_URL" ]; then
  "$PY" "$LOADER" "${OPENPEGASUS_URL%/}" >"$TMP/load_op.log" 2>&1 || { cat "$TMP/load_op.log"; exit 1; }
  op_loaded=$([ -n "$OP_PID" ] && rss_kb "$OP_PID" || echo 0)
fi

# The figures: "label|operation|IPARAMVALUEs|goal ratio (- for none)|connections".
# Deep EnumerateClasses takes OpenPegasus about 0.5 s (2 MB without
# qualifiers) to 0.7 s (30 MB with): with THREADS connections rather than
# CONNECTIONS its requests finish within the run.
ip() { printf '<IPARAMVALUE NAME="%s">%s</IPARAMVALUE>' "$1" "$2"; }
cn() { ip "$1" "<CLASSNAME NAME=\"$2\"/>"; }
bv() { ip "$1" "<VALUE>$2</VALUE>"; }
ASSOC_OF=CIM_ComputerSystem
FIGURES=(
  "GetClass $ASSOC_OF|GetClass|$(cn ClassName "$ASSOC_OF")$(bv LocalOnly FALSE)|3|$CONNECTIONS"
  "EnumerateClassNames deep|EnumerateClassNames|$(bv DeepInheritance TRUE)|3|$CONNECTIONS"
  "EnumerateClasses deep|EnumerateClasses|$(bv DeepInheritance TRUE)$(bv LocalOnly FALSE)$(bv IncludeQualifiers FALSE)|3|$THREADS"
  "EnumerateClasses deep+qual|EnumerateClasses|$(bv DeepInheritance TRUE)$(bv LocalOnly FALSE)$(bv IncludeQualifiers TRUE)|3|$THREADS"
  "Associators $ASSOC_OF|Associators|$(cn ObjectName "$ASSOC_OF")|3|$CONNECTIONS"
  "AssociatorNames $ASSOC_OF|AssociatorNames|$(cn ObjectName "$ASSOC_OF")|3|$CONNECTIONS"
  "References $ASSOC_OF|References|$(cn ObjectName "$ASSOC_OF")|3|$CONNECTIONS"
  "ReferenceNames $ASSOC_OF|ReferenceNames|$(cn ObjectName "$ASSOC_OF")|3|$CONNECTIONS"
  "EnumerateInstances PERF_Scratch|EnumerateInstances|$(cn ClassName PERF_Scratch)|25|$CONNECTIONS"
  "EnumerateInstanceNames PERF_Scratch|EnumerateInstanceNames|$(cn ClassName PERF_Scratch)|-|$CONNECTIONS"
)
# Only the figures whose label matches ONLY (a grep -E pattern), when set.
ONLY=${ONLY:-}

# One wrk run: "req/s p50_ms bytes_per_response". The answers are checked for
# CIM errors once per server and operation (check_answer) rather than inside
# wrk, whose per-response Lua scan of a large body would make the client, not
# the server, the bottleneck on 2 cores.
run_wrk() { # url op params connections
  local out
  out=$(CIM_OP=$2 CIM_NS=root/cimv2 CIM_PARAMS=$3 \
        wrk -t"$THREADS" -c"$4" -d"$DURATION" --timeout 60s -s "$LUA" "$1" 2>&1)
  awk '/^Requests\/sec:/ {r=$2}
       /latency_p50_ms/ {for (i=1;i<=NF;i++) {if ($i=="latency_p50_ms") p=$(i+1); if ($i=="bytes/resp") b=$(i+1)}}
       END {printf "%s %s %s\n", r+0, p+0, b+0}' <<<"$out"
}
# One request as wrk sends it; prints 1 when the answer is no CIM-XML or carries an ERROR.
check_answer() { # url op params
  curl -s -H 'Content-Type: application/xml; charset="utf-8"' -H 'CIMOperation: MethodCall' \
    -H "CIMMethod: $2" -H 'CIMObject: root%2Fcimv2' --data-binary \
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"$2\"><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/></LOCALNAMESPACEPATH>$3</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>" \
    "$1" | awk '/<ERROR/ {bad=1} /<IRETURNVALUE>|<IMETHODRESPONSE/ {ok=1} END {print (ok && !bad) ? 0 : 1}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v g="$2" -v le="${3:-}" 'BEGIN { if (r == "n/a") print "n/a"; else if (le == "") print (r >= g ? "yes" : "NO"); else print (r <= g ? "yes" : "NO") }'; }

echo "data: DMTF 2.41 in root/cimv2 + 1,000 PERF_Scratch; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $RUNS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$OP_URL" ]; then
  echo "OPENPEGASUS_URL is not set: absolute figures only, no ratio was measured"
fi
printf '%-36s %11s %8s %11s %15s %8s %7s %s\n' figure "cimomd r/s" "p50 ms" "bytes/resp" "OpenPegasus r/s" "p50 ms" ratio "goal met"
for spec in "${FIGURES[@]}"; do
  IFS='|' read -r label op params goal conns <<<"$spec"
  if [ -n "$ONLY" ] && ! grep -qE "$ONLY" <<<"$label"; then continue; fi
  as=() ap=() bs=() bp=() bytes=0
  errs=$(check_answer "$URL" "$op" "$params")
  if [ -n "$OP_URL" ] && [ "$(check_answer "$OP_URL" "$op" "$params")" != 0 ]; then
    echo "  (OpenPegasus answered $label with a CIM error)"
  fi
  for _ in $(seq 1 "$RUNS"); do
    read -r r p b < <(run_wrk "$URL" "$op" "$params" "$conns"); as+=("$r"); ap+=("$p"); bytes=$b
    if [ -n "$OP_URL" ]; then
      read -r r p _ < <(run_wrk "$OP_URL" "$op" "$params" "$conns"); bs+=("$r"); bp+=("$p")
    fi
  done
  ma=$(median "${as[@]}"); pa=$(median "${ap[@]}")
  if [ -n "$OP_URL" ]; then
    mb=$(median "${bs[@]}"); pb=$(median "${bp[@]}"); rt=$(ratio "$ma" "$mb")
    met=$([ "$goal" = - ] && echo "(no goal)" || verdict "$rt" "$goal")
  else
    mb=-; pb=-; rt=-; met="(no ratio measured)"
  fi
  [ "$errs" != 0 ] && met="$met; cimomd answered with a CIM error"
  printf '%-36s %11s %8s %11s %15s %8s %7s %s\n' "$label" "$ma" "$pa" "$bytes" "$mb" "$pb" "$rt" "$met"
done
after=$(rss_kb "$PID"); after_anon=$(anon_kb "$PID")
op_after=$([ -n "$OP_PID" ] && rss_kb "$OP_PID" || echo 0)
# Once more after a second without requests (cimomd trims its allocator's
# free memory half a second after the last request).
sleep 1
quiet=$(rss_kb "$PID"); quiet_anon=$(anon_kb "$PID")
op_quiet=$([ -n "$OP_PID" ] && rss_kb "$OP_PID" || echo 0)
stop_cimomd

echo
echo "memory and size (goal, met):"
printf '  cimomd RSS after the load          %s\n' "$(mib "$loaded")"
printf '  cimomd RSS idle (restarted)         %-10s <= 12 MB  %s (anonymous %s)\n' "$(mib "$idle")" "$(verdict "$idle" 12288 le)" "$(mib "$idle_anon")"
printf '  cimomd RSS after the runs           %-10s <= 40 MB  %s (anonymous %s)\n' "$(mib "$after")" "$(verdict "$after" 40960 le)" "$(mib "$after_anon")"
printf '  cimomd RSS 1 s after the runs       %-10s <= 40 MB  %s (anonymous %s)\n' "$(mib "$quiet")" "$(verdict "$quiet" 40960 le)" "$(mib "$quiet_anon")"
printf '  cimomd repository on disk           %-10s <= 12 MB  %s\n' "$(mib "$repo_kb")" "$(verdict "$repo_kb" 12288 le)"
printf '  mofc check of 2.41: time            %-10s <= 0.15 s %s\n' "${mofc_s} s" "$(verdict "$mofc_s" 0.15 le)"
printf '  mofc check of 2.41: peak RSS        %-10s <= 24 MB  %s\n' "$(mib "$mofc_kb")" "$(verdict "$mofc_kb" 24576 le)"
if [ -n "$OP_URL" ]; then
  if [ -n "$OP_PID" ]; then
    printf '  OpenPegasus RSS after the load     %s\n' "$(mib "$op_loaded")"
    printf '  OpenPegasus RSS after the runs     %s\n' "$(mib "$op_after")"
    printf '  OpenPegasus RSS 1 s after the runs %s\n' "$(mib "$op_quiet")"
  else
    echo "  OpenPegasus RSS: its PID was not found (set OPENPEGASUS_PID)"
  fi
  if [ -n "${OPENPEGASUS_REPOSITORY:-}" ] && [ -d "$OPENPEGASUS_REPOSITORY" ]; then
    printf '  OpenPegasus repository on disk     %s\n' "$(mib "$(du -sk "$OPENPEGASUS_REPOSITORY" | cut -f1)")"
  fi
fi
