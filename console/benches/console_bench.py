"""Console measures (issue 13), run by ./scripts/bench.sh with release builds.

1. Page weight: the main page with all its assets, gzipped, beside Debian's
   cockpit-storaged JS + CSS (downloaded with apt-get download, gzipped the
   same way) in the same run.
2. State-change latency: `iiadm -s`/`-r` returns → the row shows the new state
   in Chromium; p50/p95 over 100 changes.
3. 5 hosts x 200 sets: /ui/table render time, first contentful paint, iimgr RSS.
4. 50 SSE clients at 10 changes/s for CONSOLE_SOAK_SECONDS (default 300):
   lag per minute (p50/p95) and iimgr RSS over time.

Environment: CIMOMD, IIADM, IIMGR (binaries), CONSOLE_SOAK_SECONDS.
"""
import gzip
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import conftest  # noqa: E402
from console_util import CHROMIUM_FLAGS, ApiSession, Iimgr, MiB, chromium_path  # noqa: E402

IIADM = conftest.IIADM


def hexs(s):
    return s.encode().hex()


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def met(ok):
    return "yes" if ok else "NO"


def gz(b):
    return len(gzip.compress(b, 9))


def paint_times(page, url):
    """[first contentful paint, response start, response end, DOM interactive] in ms.
    The paint entry of a small page may be recorded after `load`: wait for it."""
    page.goto(url)
    page.wait_for_load_state("load")
    for _ in range(100):
        t = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
            return [performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
                    n.responseStart, n.responseEnd, n.domInteractive]; }""")
        if t[0] >= 0:
            return t
        time.sleep(0.02)
    return t


def page_weight(mgr):
    s = ApiSession(mgr.url)
    total = 0
    for path in ("/", "/assets/app.js", "/assets/style.css"):
        c = http.client.HTTPConnection("127.0.0.1", mgr.port, timeout=60)
        c.request("GET", path, headers={"Cookie": s.cookie})
        total += gz(c.getresponse().read())
    return total


def cockpit_weight(tmp):
    """Gzipped JS + CSS of Debian's cockpit-storaged, or None when unavailable."""
    d = Path(tmp) / "cockpit"
    d.mkdir()
    r = subprocess.run(["apt-get", "download", "cockpit-storaged"], cwd=d, capture_output=True, text=True)
    debs = list(d.glob("cockpit-storaged_*.deb"))
    if r.returncode != 0 or not debs:
        return None, r.stderr.strip()[:200]
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(d / "x")], check=True)
    total = 0
    for f in (d / "x").rglob("*"):
        name = f.name
        if name.startswith("po."):
            continue  # translations: a page loads one language at most, none for English
        if name.endswith((".js.gz", ".css.gz")):
            total += f.stat().st_size
        elif name.endswith((".js", ".css")):
            total += gz(f.read_bytes())
    return total, debs[0].name


def start_host(base, n_sets):
    h = conftest.Cimomd(base)
    conn = h.conn()
    for i in range(n_sets):
        m, s, b = (h.volume(f"{k}{i}", MiB if k != "b" else 64 * 1024) for k in "msb")
        import pywbem
        inst = pywbem.CIMInstance("DS_IISet", properties={
            "masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": "dependent", "setName": f"set{i}"})
        conn.CreateInstance(inst)
    return h


def latency(page, mgr, host, n=100):
    m, s, b = host.volume("lm", MiB), host.volume("ls", MiB), host.volume("lb", MiB)
    env = dict(os.environ, IIADM_URL=host.url)
    subprocess.run([IIADM, "-e", "dep", m, s, b, "lat"], env=env, check=True, capture_output=True)
    page.goto(mgr.url + "/")
    rid = f"s-{hexs('h0')}-{hexs(s)}"
    page.wait_for_selector(f"#{rid}")
    lags = []
    for i in range(n):
        flag, want = ("-s", "suspended") if i % 2 == 0 else ("-r", "idle")
        subprocess.run([IIADM, flag, s], env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        page.wait_for_function(
            f"document.getElementById('{rid}')?.querySelector('td.state')?.textContent === '{want}'",
            polling=5, timeout=10000)
        lags.append((time.perf_counter() - t0) * 1000)
    return lags


class SseClient(threading.Thread):
    def __init__(self, port, cookie, stop):
        super().__init__(daemon=True)
        self.port, self.cookie, self.stop = port, cookie, stop
        self.events = []

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/api/v1/events", headers={"Cookie": self.cookie})
        r = c.getresponse()
        while not self.stop.is_set():
            line = r.fp.readline()
            if not line:
                return
            if line.startswith(b"data: {") and b'"html"' in line:
                self.events.append((time.perf_counter(), line))


def soak(mgr, hosts, seconds, clients=50, rate=10):
    s = ApiSession(mgr.url)
    stop = threading.Event()
    cs = [SseClient(mgr.port, s.cookie, stop) for _ in range(clients)]
    for c in cs:
        c.start()
    time.sleep(1)
    conn = hosts[0].conn()
    sets = conn.EnumerateInstanceNames("DS_IISet")[:10]
    changes, rss = [], []
    t_end = time.perf_counter() + seconds
    k = 0
    next_rss = 0
    while time.perf_counter() < t_end:
        p = sets[k % len(sets)]
        method = "suspend" if (k // len(sets)) % 2 == 0 else "resume"
        t0 = time.perf_counter()
        conn.InvokeMethod(method, p)
        # The event may arrive before the call returns: accept it from t0 on.
        changes.append((t0, time.perf_counter(), p["shadowVolume"], "suspended" if method == "suspend" else "idle"))
        k += 1
        if time.perf_counter() >= next_rss:
            rss.append(rss_kib(mgr.proc.pid))
            next_rss = time.perf_counter() + 10
        time.sleep(max(0, 1 / rate - 0.002))
    time.sleep(2)
    stop.set()
    per_minute = {}
    t_start = changes[0][0]
    for t0, t, shadow, state in changes:
        needle = f'data-set=\\"{shadow}\\"'.encode()
        st = f'data-state=\\"{state}\\"'.encode()
        for c in cs:
            lag = next((max(0.0, a - t) * 1000 for a, line in c.events if a >= t0 and needle in line and st in line), None)
            if lag is not None:
                per_minute.setdefault(int((t - t_start) // 60), []).append(lag)
    return per_minute, rss, len(changes)


def main():
    soak_s = int(os.environ.get("CONSOLE_SOAK_SECONDS", "300"))
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        print("== console: 5 hosts x 200 sets (creating the sets)", flush=True)
        hosts = []
        threads = []
        for i in range(5):
            def mk(i=i):
                hosts.append((i, start_host(tmp / f"h{i}", 200)))
            t = threading.Thread(target=mk)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        hosts = [h for _, h in sorted(hosts, key=lambda x: x[0])]
        mgr = Iimgr(tmp / "mgr", [(f"h{i}", h.url, []) for i, h in enumerate(hosts)])
        try:
            for i in range(5):
                mgr.wait_host_live(f"h{i}", timeout=120)
            s = ApiSession(mgr.url)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                c = http.client.HTTPConnection("127.0.0.1", mgr.port, timeout=60)
                c.request("GET", "/ui/table", headers={"Cookie": s.cookie})
                body = c.getresponse().read()
                times.append((time.perf_counter() - t0) * 1000)
            assert body.count(b'class="set') >= 1000, "every set rendered"
            ctx = pw.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=chromium_path(),
                                                        headless=True, args=CHROMIUM_FLAGS,
                                                        bypass_csp=True)  # wait_for_function evaluates strings
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            fcps = []
            for _ in range(5):
                t = paint_times(page, mgr.url + "/")
                fcps.append(t[0])
                print("  fcp %.0f ms (response start %.0f, end %.0f, dom interactive %.0f)" % tuple(t))
            p50, fcp, rss = pct(times, 50), statistics.median(fcps), rss_kib(mgr.proc.pid) * 1024
            print(f"table render (GET /ui/table, 1000 sets): p50 {p50:.1f} ms, max {max(times):.1f} ms, goal <= 50 ms {met(p50 <= 50)}")
            print(f"first contentful paint, 1000 sets: median {fcp:.0f} ms, goal <= 300 ms {met(0 <= fcp <= 300)}")
            print(f"iimgr RSS with 5 hosts x 200 sets: {rss / MiB:.1f} MiB, goal <= 30 MB {met(rss <= 30e6)}")
            print(f"main page + assets gzipped, 1000 sets: {page_weight(mgr) / 1024:.1f} KiB")

            print("== console: state-change latency over 100 changes", flush=True)
            lags = latency(page, mgr, hosts[0])
            print(f"iiadm returns -> row updated in Chromium: p50 {pct(lags, 50):.0f} ms, p95 {pct(lags, 95):.0f} ms, "
                  f"max {max(lags):.0f} ms, goal p50 <= 300 and p95 <= 1000 {met(pct(lags, 50) <= 300 and pct(lags, 95) <= 1000)}")
            ctx.close()

            print(f"== console: 50 SSE clients at 10 changes/s for {soak_s} s", flush=True)
            per_minute, rss, n = soak(mgr, hosts, soak_s)
            for minute, ls in sorted(per_minute.items()):
                print(f"minute {minute}: {len(ls)} deliveries, lag p50 {pct(ls, 50):.0f} ms, p95 {pct(ls, 95):.0f} ms")
            print(f"{n} changes; iimgr RSS every 10 s (MiB): {', '.join(f'{r / 1024:.1f}' for r in rss)}")
            mins = sorted(per_minute)
            first, last = pct(per_minute[mins[0]], 95), pct(per_minute[mins[-1]], 95)
            bounded = max(rss) <= 2 * min(rss) + 10 * 1024
            print(f"SSE lag p95 first minute {first:.0f} ms, last minute {last:.0f} ms; RSS {min(rss) / 1024:.1f}-{max(rss) / 1024:.1f} MiB; "
                  f"goal no growing lag, bounded memory {met(last <= 2 * first + 100 and bounded)}")
        finally:
            mgr.stop()
            for h in hosts:
                h.stop()
        # Page weight of an empty console beside Cockpit's storage page.
        h = conftest.Cimomd(tmp / "w")
        mgr = Iimgr(tmp / "wmgr", [("w", h.url, [])])
        try:
            mgr.wait_host_live("w")
            ours = page_weight(mgr)
            # Calibration in the same run: the paint of a nearly empty console
            # shows how much of the 1000-set figure is the machine's load.
            ctx = pw.chromium.launch_persistent_context(str(tmp / "profile2"), executable_path=chromium_path(),
                                                        headless=True, args=CHROMIUM_FLAGS)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            small = [paint_times(page, mgr.url + "/")[0] for _ in range(5)]
            ctx.close()
            print(f"first contentful paint, empty console (same run, calibration): median {statistics.median(small):.0f} ms; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        finally:
            mgr.stop()
            h.stop()
        ref, what = cockpit_weight(tmp)
        if ref:
            print(f"main page with all assets, gzipped: {ours / 1024:.1f} KiB; cockpit-storaged JS+CSS gzipped ({what}): "
                  f"{ref / 1024:.1f} KiB; ratio {ref / ours:.1f}x smaller; goal <= 50 KB {met(ours <= 50_000)}")
        else:
            print(f"main page with all assets, gzipped: {ours / 1024:.1f} KiB; cockpit reference unavailable: {what}")


if __name__ == "__main__":
    main()
