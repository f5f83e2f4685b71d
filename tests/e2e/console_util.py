"""Helpers of the console end-to-end tests: a real `iimgr`, a real Debian
Chromium driven by Playwright through `executable_path` (never a downloaded
browser), and JSON API calls with the session cookie and CSRF token.

Screenshots of each scenario's end state go to $CONSOLE_SHOTS (default
target/console-screenshots), which is not committed.
"""
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import ROOT, Cimomd, free_ports, wait_for_port

IIMGR = os.environ.get("IIMGR", str(ROOT / "target" / "debug" / "iimgr"))
SHOTS = Path(os.environ.get("CONSOLE_SHOTS", str(ROOT / "target" / "console-screenshots")))
TOKEN = "announce-secret-1"
MiB = 1024 * 1024

# Debian's chromium as root needs --no-sandbox; the rest keeps it quiet and offline.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path():
    for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if p and os.access(p, os.X_OK):
            return p
    raise RuntimeError("Debian's chromium is not installed (scripts/test.sh installs it)")


class PinnedCimomd(Cimomd):
    """A cimomd that comes back on the same ports after a restart, as a host
    in console.toml must."""

    def start(self):
        if getattr(self, "port", None) is None:
            self.port, self.nbd_port = free_ports(2)
        args = [
            os.environ.get("CIMOMD", str(ROOT / "target" / "debug" / "cimomd")),
            "--listen", f"127.0.0.1:{self.port}",
            "--nbd-listen", f"127.0.0.1:{self.nbd_port}",
            "--state-dir", str(self.state_dir),
            "--volume-root", str(self.volume_root),
            *self.extra_args,
        ]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)


class Iimgr:
    """One iimgr process on a free loopback port."""

    def __init__(self, base: Path, hosts, extra_args=(), users=None, toml=""):
        base.mkdir(parents=True, exist_ok=True)
        self.base = base
        lines = [toml]
        for name, url, tags in hosts:
            lines += ["[[host]]", f"name = {json.dumps(name)}", f"url = {json.dumps(url)}",
                      f"tags = {json.dumps(list(tags))}", ""]
        (base / "console.toml").write_text("\n".join(lines))
        self.token_file = base / "announce-token"
        self.token_file.write_text(TOKEN + "\n")
        self.port = free_ports(1)[0]
        args = [IIMGR, "--listen", f"127.0.0.1:{self.port}", "--config", str(base / "console.toml"),
                "--announce-token-file", str(self.token_file), *extra_args]
        if users:
            args += ["--users", str(users)]
        self.log_path = base / "iimgr.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    stop = Cimomd.stop  # SIGTERM, a grace period, then SIGKILL; closes the log

    def wait_host_live(self, name, timeout=30):
        """Waits until the host answers through iimgr (its live view is up)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                hosts = http(self.url + "/api/v1/hosts")[1]
                if any(h["name"] == name and h["reachable"] for h in hosts):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"host {name} not live in iimgr within {timeout}s:\n" + self.log_path.read_text())


class ApiSession:
    """A JSON API client holding the session cookie and CSRF token."""

    def __init__(self, base_url):
        self.base = base_url
        status, body, headers = http(base_url + "/api/v1/session", want_headers=True)
        assert status == 200, body
        self.cookie = headers["Set-Cookie"].split(";")[0]
        self.csrf = body["csrf"]

    def call(self, method, path, body=None, csrf=True):
        h = {"Cookie": self.cookie}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return http(self.base + path, method=method, body=body, headers=h)


def http(url, method="GET", body=None, headers=None, raw=None, want_headers=False):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return (status, parsed, hdrs) if want_headers else (status, parsed)


def seg(s):
    return urllib.parse.quote(s, safe="")


def fill(path, size):
    """Writes `size` bytes of non-repeating data."""
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for i in range(size // MiB):
            f.write(bytes([i & 0xFF]) + block[1:])


def nbd_bytes(server, volume, tmp):
    out = tmp / (Path(volume).name + ".nbd")
    r = subprocess.run(["nbdcopy", f"{server.nbd_url}/{volume}", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
