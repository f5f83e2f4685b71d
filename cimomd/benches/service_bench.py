#!/usr/bin/env python3
"""service_bench.py -- the service figures of issue 18, on a release cimomd.

1. Readiness: time from process start to the READY=1 notification (read
   from a test NOTIFY_SOCKET), with the DMTF 2.41 schema loaded into
   root/cimv2 (`cimomd load-mof`) and 1,000 dependent sets configured; the
   same cimomd on an empty state dir is measured in the same run for
   reference. Median of ROUNDS starts. Goal: <= 1 s.
2. Metrics overhead: GetClass CIM_ComputerSystem throughput (wrk with the
   shared wrk_cimxml.lua, 2 threads, 16 connections) of two copies of the
   repository served side by side, one with --metrics-listen (scraped every
   second, as Prometheus would) and one without, five alternating runs
   each; ratio of the medians. Goal: >= 0.98
   (overhead <= 2 %).

Env: CIMOMD (default: target/release/cimomd, built when missing), MOF_CORPUS
(default ../shared/corpus), SETS=1000, ROUNDS=5, WRK_DURATION=8s, WRK_LUA.
Usage: .venv/bin/python cimomd/benches/service_bench.py
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETS = int(os.environ.get("SETS", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
DURATION = os.environ.get("WRK_DURATION", "8s")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cimomd_binary():
    path = os.environ.get("CIMOMD")
    if path:
        return path
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cimomd", "--bin", "cimomd"],
                   cwd=ROOT, check=True)
    return str(ROOT / "target" / "release" / "cimomd")


class Server:
    def __init__(self, cimomd, state, extra=(), notify=None):
        self.port = free_port()
        env = dict(os.environ)
        if notify:
            env["NOTIFY_SOCKET"] = notify
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [cimomd, "--listen", f"127.0.0.1:{self.port}", "--nbd-listen", f"127.0.0.1:{free_port()}",
             "--state-dir", str(state), "--volume-root", str(state / "volumes"), "--log", "warn", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def wait_port(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("cimomd did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def time_to_ready(cimomd, state, tmp):
    path = str(tmp / "notify.sock")
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(120)
    server = Server(cimomd, state, notify=path)
    try:
        while True:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg.split("\n"):
                return time.monotonic() - server.started
    finally:
        sock.close()
        server.stop()


def populate(cimomd, state):
    corpus = Path(os.environ.get("MOF_CORPUS", ROOT.parent / "shared" / "corpus"))
    schema = corpus / "cim-schema" / "2.41.0" / "CIM_Schema.mof"
    if not schema.exists():
        sys.exit(f"service_bench: {schema} not found (set MOF_CORPUS); skipped")
    t = time.monotonic()
    subprocess.run([cimomd, "--state-dir", str(state), "load-mof", "--namespace", "root/cimv2", str(schema)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"loaded DMTF 2.41 into root/cimv2 in {time.monotonic() - t:.1f} s")
    vols = state / "volumes"
    vols.mkdir(parents=True, exist_ok=True)
    import pywbem
    server = Server(cimomd, state)
    server.wait_port()
    conn = pywbem.WBEMConnection(f"http://127.0.0.1:{server.port}", default_namespace="root/cimv2", timeout=120)
    t = time.monotonic()
    for i in range(SETS):
        names = [vols / f"{i}-{k}" for k in ("m", "s", "b")]
        for p, size in zip(names, (1 << 20, 1 << 20, 64 << 10)):
            with open(p, "wb") as f:
                f.truncate(size)
        conn.CreateInstance(pywbem.CIMInstance("DS_IISet", properties={
            "masterVolume": str(names[0]), "shadowVolume": str(names[1]),
            "bitmapVolume": str(names[2]), "setType": "dependent"}))
    n = len(conn.EnumerateInstanceNames("DS_IISet"))
    print(f"enabled {n} dependent sets in {time.monotonic() - t:.1f} s")
    assert n == SETS, n
    server.stop()


def wrk(url, lua):
    env = dict(os.environ, CIM_OP="GetClass", CIM_NS="root/cimv2", CIM_CLASS="CIM_ComputerSystem", CIM_CHECK="1")
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{DURATION}", "-s", lua, f"{url}/cimom"],
                         env=env, capture_output=True, text=True, check=True).stdout
    rate, errors = 0.0, 0
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rate = float(line.split()[1])
        if "cim_errors" in line:
            errors = int(line.split()[-1])
    if errors:
        raise RuntimeError(f"GetClass answered {errors} CIM errors:\n{out}")
    return rate


def scraper(port, stop):
    while not stop.is_set():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        except OSError:
            pass
        stop.wait(1.0)


def metrics_overhead(cimomd, state):
    lua = os.environ.get("WRK_LUA") or str(ROOT.parent / "shared" / "tools" / "wrk_cimxml.lua")
    if not shutil.which("wrk") or not os.path.exists(lua):
        print("metrics overhead: wrk or wrk_cimxml.lua missing; skipped")
        return
    # Two copies of the repository (the sets' volumes can be open in one
    # engine only), served side by side.
    copies = []
    for name in ("with-metrics", "without-metrics"):
        copy = state.parent / name
        shutil.copytree(state, copy, ignore=shutil.ignore_patterns("engine", "volumes"))
        copies.append(copy)
    mport = free_port()
    with_m = Server(cimomd, copies[0], extra=["--metrics-listen", f"127.0.0.1:{mport}"])
    without = Server(cimomd, copies[1])
    try:
        with_m.wait_port()
        without.wait_port()
        stop = threading.Event()
        t = threading.Thread(target=scraper, args=(mport, stop), daemon=True)
        t.start()
        a, b = [], []
        for _ in range(5):
            a.append(wrk(f"http://127.0.0.1:{with_m.port}", lua))
            b.append(wrk(f"http://127.0.0.1:{without.port}", lua))
        stop.set()
        body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
        counted = sum(float(l.split()[-1]) for l in body.splitlines()
                      if l.startswith('cimomd_cim_requests_total{operation="GetClass"'))
    finally:
        with_m.stop()
        without.stop()
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb
    print(f"GetClass req/s with metrics:    {' '.join(f'{x:.0f}' for x in a)}  (median {ma:.0f}; "
          f"{counted:.0f} requests counted by the endpoint)")
    print(f"GetClass req/s without metrics: {' '.join(f'{x:.0f}' for x in b)}  (median {mb:.0f})")
    print(f"{'metrics endpoint on/off throughput':<44} {ratio:8.3f}  goal >= 0.98  {'yes' if ratio >= 0.98 else 'NO'}")


def main():
    cimomd = cimomd_binary()
    with tempfile.TemporaryDirectory(prefix="service_bench.") as d:
        tmp = Path(d)
        empty, state = tmp / "empty", tmp / "state"
        empty.mkdir()
        populate(cimomd, state)
        base = sorted(time_to_ready(cimomd, empty, tmp) for _ in range(ROUNDS))
        full = sorted(time_to_ready(cimomd, state, tmp) for _ in range(ROUNDS))
        mb, mf = statistics.median(base), statistics.median(full)
        print(f"start to READY=1, empty state dir:            {' '.join(f'{x * 1000:.0f}' for x in base)} ms "
              f"(median {mb * 1000:.0f} ms)")
        print(f"start to READY=1, DMTF 2.41 + {SETS} sets:      {' '.join(f'{x * 1000:.0f}' for x in full)} ms "
              f"(median {mf * 1000:.0f} ms)")
        print(f"{'start to READY=1 with schema and sets (s)':<44} {mf:8.3f}  goal <= 1 s  "
              f"{'yes' if mf <= 1.0 else 'NO'}")
        metrics_overhead(cimomd, state)


if __name__ == "__main__":
    main()
